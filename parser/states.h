/* SPDX-License-Identifier: MIT */
/*
 * parser/states.h: every state of the stream grammar, in one place.
 *
 * The parser is a resumable state machine over bytes.  A state is only
 * stored when input runs out (or a callback pauses); inside one call the
 * machine moves between states with gotos and tight inner loops, so the
 * stored state is the only thing that makes a chunk boundary visible.  All
 * positions the states refer to are offsets relative to the first byte of
 * the current top-level construct, whose bytes the parser keeps until it is
 * complete; that is what makes resuming free of rescans.
 *
 *   document   ::= BOM? XMLDecl? S? stream
 *   stream     ::= '<' stream-start-tag-rest  (S | stanza)*  '</' QName S? '>'  S?
 *   stanza     ::= element
 *   element    ::= '<' QName (S attr)* S? ('/>' | '>' content '</' QName S? '>')
 *   attr       ::= QName S? '=' S? ('"' [^<&"]* '"' | "'" [^<&']* "'")   with references
 *   content    ::= (chardata | reference | CDATA | element)*
 *
 * Comments, PIs, DOCTYPE and entities other than the predefined five fail
 * with restricted-xml as soon as they are recognised.
 */
#ifndef XSR_PARSER_STATES_H
#define XSR_PARSER_STATES_H

enum xsr__state {
  ST_DOC,        /* start of a stream: BOM and encoding sniffing */
  ST_PROLOG,     /* before the stream element: whitespace, '<' */
  ST_XMLDECL,    /* inside <?xml ... looking for '?>' */
  ST_BETWEEN,    /* between stanzas: whitespace keepalives, '<' */
  ST_EPILOG,     /* after </stream:stream>: only whitespace */
  ST_LT,         /* at a '<': decide what it opens */
  ST_STAG_NAME,  /* element name */
  ST_STAG_WS,    /* inside a start tag, between attributes */
  ST_ATTR_NAME,  /* attribute name */
  ST_ATTR_EQ,    /* after an attribute name, before '=' */
  ST_ATTR_Q,     /* after '=', before the opening quote */
  ST_ATTR_VALUE, /* attribute value, up to the closing quote */
  ST_EMPTY_GT,   /* after the '/' of '/>' */
  ST_ETAG_NAME,  /* end tag name, after '</' */
  ST_ETAG_WS,    /* after the end tag name, before '>' */
  ST_CONTENT,    /* character data inside a stanza */
  ST_CDATA,      /* inside <![CDATA[ ... looking for ']]>' */
  ST_REF,        /* at a '&' */
  ST_REF_NUM,    /* digits of a character reference */
  ST_REF_NAME,   /* name of an entity reference */
  ST_FAILED      /* an error was reported; everything is refused */
};

/* Where the stream is. */
enum xsr__phase {
  PH_PROLOG, /* stream element not yet complete */
  PH_STREAM, /* inside the stream element */
  PH_EPILOG  /* after the stream element closed */
};

#endif /* XSR_PARSER_STATES_H */
