#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerates the seed corpora fuzz/corpus/<fuzzer>/ from the hand-written
# inputs in fuzz/seeds/ (RFC 6120/6121 examples and edge cases), adding the
# option bytes each harness reads first.  Run from anywhere; commit the result.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/seeds
corpus=$here/corpus

# Option prefixes for the parser harnesses: [mode][limits a][limits b][chunks x4].
#  p0: default limits, API poked from callbacks, mixed chunk sizes
#  p1: pauses everywhere, small limits (max_stanza 320, depth 16, 1 attribute)
#  p2: max_stanza 4144 only, 64 KiB chunks
#  p3: one byte at a time, accept jabber:client only
prefixes='\004\000\000\132\245\074\303 \007\217\020\041\103\145\207 \000\100\377\377\377\377\377 \004\020\000\000\000\000\000'

gen() { # gen FUZZER
  dir=$corpus/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  i=0
  for f in "$seeds"/*.xml; do
    name=$(basename "$f" .xml)
    set -- $prefixes
    shift $((i % 4))
    printf "$1" >"$dir/$name"
    cat "$f" >>"$dir/$name"
    i=$((i + 1))
  done
}

gen parser_feed
gen parser_buffer
# The buffer harness reads the room it asks for from mode bits 4-6.
printf '\060\000\000\132\245\074\303' >"$corpus/parser_buffer/c2s-session-ask1460"
cat "$seeds/c2s-session.xml" >>"$corpus/parser_buffer/c2s-session-ask1460"
# XSR_RETRY: refuse every 3rd stanza once (feed), every stanza twice (feed),
# every 2nd stanza once (buffer/commit).
for m in '\140' '\240'; do
  f=$corpus/parser_feed/c2s-session-retry$(printf "$m" | od -An -tu1 | tr -d ' ')
  printf "$m\000\000\132\245\074\303" >"$f"
  cat "$seeds/c2s-session.xml" >>"$f"
done
printf '\010\000\000\132\245\074\303' >"$corpus/parser_buffer/c2s-session-retry"
cat "$seeds/c2s-session.xml" >>"$corpus/parser_buffer/c2s-session-retry"
gen restart
# restart: mode bits 0-2 restart every n-th stanza; bit 3 buffer/commit;
# bits 5-7 refuse stanzas with XSR_RETRY (0xa0: every one, twice).
for m in '\000' '\023' '\010' '\002' '\240'; do
  f=$corpus/restart/c2s-session-mode$(printf "$m" | od -An -tu1 | tr -d ' ')
  printf "$m\000\000\132\245\074\303" >"$f"
  cat "$seeds/c2s-session.xml" >>"$f"
done

# expat_diff: stream bodies only (the harness adds the stream header).
dir=$corpus/expat_diff
rm -rf "$dir"
mkdir -p "$dir"
for f in "$seeds"/*.xml; do
  # Drop everything up to the end of the first stream header.
  sed -e '1s/^.*<stream:stream[^>]*>//' "$f" | sed -e 's#</stream:stream>$##' >"$dir/$(basename "$f" .xml)"
done

# decode: [quote] attribute-value NUL text NUL cdata.
dir=$corpus/decode
rm -rf "$dir"
mkdir -p "$dir"
printf '\000a&amp;b&#x41;&#66;\r\n\tc d\000text &lt; &#169; \r\n x &#xD; &#x10FFFF;\000 cdata ]] > \r\n\r' >"$dir/mixed"
printf '\001it&apos;s &quot;q&quot; \047\000\000' >"$dir/dquote"
printf '\000plain\000plain text\000plain cdata' >"$dir/plain"
printf '\000\r\r\n\n\t\000\r\r\n\n\t\000\r\r\n\n\t' >"$dir/line-ends"
printf '\000caf\303\251 \360\237\230\200\000\344\270\255&#x4E2D;\000' >"$dir/utf8"
printf '\000&lt\000&#xFFFE;\000' >"$dir/bad-refs"

# writer: byte-coded operations (see writer_fuzzer.c).
dir=$corpus/writer
rm -rf "$dir"
mkdir -p "$dir"
# <message to='juliet@example.com' type='chat'><body>Art thou ... & a Montague?</body></message>
printf '\000\000\111\000juliet@example.com\021\003chat\000\001\206\000Art thou not Romeo, & a Montague?\003\000\003\000' >"$dir/message"
# text with characters that need escaping, CR, TAB and non-ASCII
printf '\000\003\040\005<>&\047\042\r\t\n\000\000\062\000 <b>&amp;\r\n caf\303\251 \360\237\230\200]]>\003\000\003\000' >"$dir/escapes"
# nesting, several stanzas, an invalid byte (must be refused)
printf '\000\000\000\004\000\002\000\001\003\000\003\000\000\001\012\000\377\003\000' >"$dir/invalid-utf8"
printf '\000\000\021\004en\012\001\001\000\011\000\0033\003\000' >"$dir/lang-and-empty"

# jid: [cap selector] JID.
dir=$corpus/jid
rm -rf "$dir"
mkdir -p "$dir"
n=0
while IFS= read -r j; do
  printf '\007%s' "$j" >"$dir/jid-$n"
  n=$((n + 1))
done <<'JIDS'
juliet@example.com/balcony
romeo@example.net
example.com
Juliet@Example.COM/Balcony
user@example.com.
MÜNCHEN.de
xn--mnchen-3ya.de
[::1]/res
192.168.0.1
a@b@c/d/e@f
@example.com
juliet@
juliet@example.com/
ДОМ@пример.рф/ресурс
ﬀ@example.com
"quoted"@example.com
user@-bad-.com
user@under_score.com
a@b.c/ with space 
JIDS
printf '\000a@b\000c' >"$dir/nul"
printf '\000\377@example.com' >"$dir/bad-utf8"

# forward: [mode][budget][drain][chunks x4] BODY (see forward_fuzzer.c).
# Wrapped inputs: header attributes NUL message content (NUL more messages).
dir=$corpus/forward
rm -rf "$dir"
mkdir -p "$dir"
printf '\000\003\007\132\245\074\303%s\000%s\000%s\000%s' "xmlns:foo='urn:foo' xml:lang='en'" \
  "<foo:bar a='1'/><body>hi &amp; bye</body>" "<body><![CDATA[<x> & ]]></body><stream:x/>" \
  "<foo:y xmlns:foo='urn:other'><foo:z/></foo:y>" >"$dir/wrapped-foo-lang"
# small router limits: the long body is bounced with policy-violation
long=$(printf '0123456789%.0s' $(seq 62))
printf '\006\002\021\001\002\003\004%s\000%s\000%s\000%s' \
  "xmlns:foo=\"urn:foo&amp;q'\" xmlns:bar='urn:bar'" "<foo:x p1='1' p2='2'/><bar:y/>" \
  "<body>$long</body>" "<body>short</body>" >"$dir/wrapped-small-limits"
# a 1-byte budget, early resumes, writes in flight
printf '\364\001\377\377\377\377\377%s\000%s\000%s\000%s\000%s\000%s\000%s' "xmlns:p='urn:p'" \
  "<p:a/>" "<p:b/>" "<p:c/>" "<p:d/>" "<body>x</body>" "<body>y</body>" \
  >"$dir/wrapped-tiny-budget-early-hold"
# raw streams: every route outcome (full, bare with two resources, self,
# bounce, drop, server), a rebound stream prefix under sender limits
{
  printf '\161\002\005\021\021\042\042'
  cat <<'EOF'
<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:foo='urn:foo' to='x.lit' version='1.0' xml:lang='en'>
<message to='b@x.lit/r' from='evil@y/z' type='chat' id='1'><body>hi</body><foo:x foo:a='&lt;'/></message>
<message to='b@x.lit' type='chat' id='2'><body>to both resources</body></message>
<message to='c@x.lit/r' id='3' xml:lang='de'><body>hallo</body></message>
<message to='a@x.lit/r' id='4'><body>to myself</body></message>
<presence to='b@x.lit/s'><show>away</show><stream:error/></presence>
<iq to='b@x.lit/gone' type='get' id='5'><query xmlns='jabber:iq:version'/></iq>
<iq to='c@x.lit/r' type='result' id='6'/>
<message to='nobody@x.lit' type='chat' id='7'/>
<presence type='subscribe' to='c@x.lit'/>
</stream:stream>
EOF
} >"$dir/raw-c2s"
{
  printf '\013\004\011\200\100\040\020'
  cat <<'EOF'
<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns:stream='urn:xsr:other' xmlns='jabber:client' xml:lang="x'y" version='1.0'>
<message to='b@x.lit/r' id='1'><stream:x/><s:y/></message>
<iq to='b@x.lit/s' type='set' id='3'><q xmlns='urn:q' xmlns:p='urn:p'><p:r/></q></iq>
<message to='c@x.lit/r' id='2' a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' a7='7' a8='8'/>
</s:stream>
EOF
} >"$dir/raw-rebound-sender-limits"

# c2s: [mode][srv][drain][chunks x4] CLIENT-STREAM (see c2s_fuzzer.c).  bob is
# logged in as bob@example.com/r before each input; PLAIN for alice is
# base64("\0alice\0secret"), for bob base64("\0bob\0bobpw").
dir=$corpus/c2s
rm -rf "$dir"
mkdir -p "$dir"
hdr="<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
sasl="xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"
plain_alice="<auth $sasl mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>"
plain_bob="<auth $sasl mechanism='PLAIN'>AGJvYgBib2Jwdw==</auth>"
bind_res() { printf "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>" "$1"; }
session="<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
traffic="<presence><priority>5</priority><status>here</status></presence>\
<message to='bob@example.com/r' type='chat' id='m1'><body>hi &amp; bye</body></message>\
<message to='bob@example.com' id='m2'><body>bare</body></message>\
<message type='chat' id='m3'><body>to myself</body></message>\
<message to='nobody@example.com' type='chat' id='m4'/>\
<presence to='bob@example.com/r' type='probe'/><presence to='bob@example.com' type='subscribe'/>\
<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>\
<iq type='get' id='p2' to='bob@example.com'><ping xmlns='urn:xmpp:ping'/></iq>\
<iq type='get' id='d1' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\
<iq type='get' id='d2' to='example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>\
<iq type='get' id='v1' to='example.com'><query xmlns='jabber:iq:version'/></iq>\
<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>\
<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='x@example.com'/></query></iq>\
<iq type='get' id='x1' to='bob@example.com/r'><query xmlns='jabber:iq:version'/></iq>\
<iq type='get' id='x2' to='elsewhere.org'><query xmlns='jabber:iq:version'/></iq>\
<presence type='unavailable'/>"
c2s_seed() { # c2s_seed NAME PREFIX BODY
  printf "$2" >"$dir/$1"
  printf '%s' "$3" >>"$dir/$1"
}
# a full PLAIN login, bind, traffic to bob and the server, close; mixed chunks
c2s_seed plain-full '\000\000\000\132\245\074\303' \
  "$hdr$plain_alice$hdr$(bind_res balcony)$session$traffic</stream:stream>"
# the same, one byte at a time, the work and timer one chunk late, settling
c2s_seed plain-full-bytes '\007\000\000\000\000\000\000' \
  "$hdr$plain_alice$hdr$(bind_res balcony)$traffic"
# pipelined in one read (64 KiB chunks), no close: the peer goes
c2s_seed pipelined '\000\000\000\377\377\377\377' \
  "$hdr$plain_alice$hdr$(bind_res pipe)<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
# small budgets (200 bytes), held messages, retry on on_room only
c2s_seed plain-small-budget '\301\001\005\021\042\063\104' \
  "$hdr$plain_alice$hdr$(bind_res b)$traffic$traffic"
# ANONYMOUS, a server-chosen resource, a message to bob
c2s_seed anonymous '\000\000\000\132\245\074\303' \
  "$hdr<auth $sasl mechanism='ANONYMOUS'>dHJhY2U=</auth>$hdr<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq><presence/><message to='bob@example.com/r' type='chat'><body>anon</body></message><message to='bob@example.com'><body>bare</body></message></stream:stream>"
# bob's account binding bob's resource: bob's session is kicked (new wins) ...
c2s_seed kick-bob '\000\000\000\132\245\074\303' \
  "$hdr$plain_bob$hdr$(bind_res r)<presence/><message to='alice@example.com' type='chat'/>"
# ... or the bind fails (old wins), on bob's worker
c2s_seed conflict-old-wins '\040\040\000\132\245\074\303' "$hdr$plain_bob$hdr$(bind_res r)$(bind_res r)"
# wrong passwords with the failure delay (the timer), 3 failures closes
c2s_seed wrong-password-delay '\000\034\000\132\245\074\303' \
  "$hdr<auth $sasl mechanism='PLAIN'>AGFsaWNlAHdyb25n</auth><abort $sasl/><auth $sasl mechanism='SCRAM-SHA-1'>biwsbj1hbGljZSxyPWFiY2Rl</auth><response $sasl>AAAA</response>$plain_alice"
# abrupt end while PLAIN's work is pending
c2s_seed plain-abrupt '\012\000\000\377\377\377\377' "$hdr$plain_alice"
# errors: garbage, a bad 'to', no version, stanzas before auth, small header limits
c2s_seed garbage '\000\000\000\132\245\074\303' "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n<<<&&\377\376')"
c2s_seed host-unknown '\000\000\000\132\245\074\303' \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='other.org' version='1.0'>"
c2s_seed no-version '\000\000\000\132\245\074\303' \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='alice@example.com'>"
c2s_seed before-auth '\000\000\000\132\245\074\303' "$hdr<message to='bob@example.com/r'><body>x</body></message>"
c2s_seed header-decls '\000\200\000\132\245\074\303' \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:a='urn:a' xml:lang='en' to='example.com' version='1.0'>$plain_alice"
c2s_seed bound-junk '\000\000\000\132\245\074\303' \
  "$hdr$plain_alice$hdr$(bind_res j)<foo xmlns='urn:x'/><message to='bob@example.com/r'/>"
# virtual hosts: ANONYMOUS on other.example (served, no accounts), a message
# to bob on example.com, answers from both hosts, then SASL after binding
vhdr="<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='other.example' version='1.0'>"
c2s_seed vhost '\000\000\000\132\245\074\303' \
  "<?xml version='1.0'?>$vhdr<auth $sasl mechanism='ANONYMOUS'>dHJhY2U=</auth>$vhdr$(bind_res r)<presence/>\
<message to='bob@example.com/r' type='chat' id='m'><body>across</body></message>\
<iq type='get' id='d' to='other.example'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\
<iq type='get' id='p' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>\
<presence type='probe' to='bob@example.com'/>$plain_alice</stream:stream>"
