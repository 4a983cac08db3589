/* SPDX-License-Identifier: MIT */
// pugixml, the non-incremental reference: parses a whole document in place.
#include <pugixml.hpp>

#include "parsers.h"

extern "C" int xsr_bench_pugixml_parse(char *buf, size_t len, size_t *stanzas) {
  pugi::xml_document doc;
  // parse_default: CDATA, escapes, EOL and attribute whitespace normalisation;
  // pugixml checks neither UTF-8 nor namespaces, so it does less than the
  // others.
  pugi::xml_parse_result r =
      doc.load_buffer_inplace(buf, len, pugi::parse_default, pugi::encoding_utf8);
  if (!r)
    return -1;
  size_t n = 0;
  for (pugi::xml_node c = doc.document_element().first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element)
      n++;
  *stanzas = n;
  return 0;
}
