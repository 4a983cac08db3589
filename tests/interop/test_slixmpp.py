#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/interop/test_slixmpp.py: slixmpp (Debian's python3-slixmpp) against
the real xsr-router.

    test_slixmpp.py PATH/TO/xsr-router

Starts the daemon on 127.0.0.1 port 0 (--port-file, --threads 2) with a
users file made by --add-user (alice and bob, who list each other in their
rosters), then runs two rounds, one per SASL family:

  scram   the strongest mechanism slixmpp picks from the server's offer
          (SCRAM-SHA-256 or SCRAM-SHA-1; checked to be SCRAM);
  plain   PLAIN only (slixmpp's use_mech, and unencrypted_plain since the
          server has no TLS yet).

In each round both clients log in, bind and send presence; alice sends bob
a message whose body must come back exact (non-ASCII, & < > and quotes),
bob answers to alice's bare JID, each pings the server (XEP-0199), gets
its roster (the other account, subscription both) and disconnects with
</stream:stream>.  Then the daemon gets SIGTERM and must exit 0.  Every
wait is bounded (TIMEOUT seconds per step); nothing listens beyond
127.0.0.1; the daemon is stopped by its PID.
"""
import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import slixmpp

TIMEOUT = 20.0  # seconds, for any one step
BODY = "h\u00e9llo <bob> & 'quotes' \"too\" \U0001F600 ]]> &amp;"
REPLY = "got it: \u00fcber & <tags/>"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    raise SystemExit(1)


def add_user(binary, users, jid, password):
    r = subprocess.run([binary, "--users", users, "--add-user", jid],
                       input=(password + "\n").encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        fail("--add-user %s: exit %d: %s" % (jid, r.returncode, r.stderr.decode(errors="replace")))


def start_daemon(binary, tmp, users):
    port_file = os.path.join(tmp, "port")
    log_path = os.path.join(tmp, "log")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [binary, "--users", users, "--listen", "127.0.0.1:0", "--threads", "2",
         "--log-level", "debug", "--port-file", port_file],
        stdin=subprocess.DEVNULL, stderr=log)
    log.close()
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if os.path.exists(port_file):
            with open(port_file) as f:
                first = f.readline().strip()
            if first:
                return proc, int(first.rsplit(":", 1)[1]), log_path
        if proc.poll() is not None:
            dump(log_path)
            fail("xsr-router exited early (status %d)" % proc.returncode)
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    dump(log_path)
    fail("xsr-router wrote no port file in 20 s")


def dump(log_path):
    try:
        with open(log_path, "rb") as f:
            data = f.read()[-16384:]
        sys.stderr.write("---- %s (last 16 KiB)\n%s----\n" % (log_path, data.decode(errors="replace")))
    except OSError:
        pass


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mech):
        config = {}
        if mech == "PLAIN":
            # No TLS on this server yet: slixmpp refuses PLAIN in the clear
            # unless told.
            config["feature_mechanisms"] = {"use_mech": "PLAIN", "unencrypted_plain": True}
        super().__init__(jid, password, plugin_config=config)
        self.register_plugin("xep_0199")
        self.started = asyncio.Event()
        self.failed = asyncio.Event()
        self.gone = asyncio.Event()
        self.bodies = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda e: self.failed.set())
        self.add_event_handler("failed_all_auth", lambda e: self.failed.set())
        self.add_event_handler("disconnected", lambda e: self.gone.set())
        self.add_event_handler("message", self.on_message)

    async def on_start(self, event):
        self.send_presence()
        self.started.set()

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.bodies.put_nowait((str(msg["from"]), msg["body"]))


async def step(what, aw):
    try:
        return await asyncio.wait_for(aw, TIMEOUT)
    except asyncio.TimeoutError:
        fail("%s: no answer in %.0f s" % (what, TIMEOUT))


async def login(c, port, who):
    c.connect(address=("127.0.0.1", port), force_starttls=False, disable_starttls=True)
    started = asyncio.ensure_future(c.started.wait())
    failed = asyncio.ensure_future(c.failed.wait())
    done, pending = await asyncio.wait({started, failed}, timeout=TIMEOUT,
                                       return_when=asyncio.FIRST_COMPLETED)
    for p in pending:
        p.cancel()
    if not c.started.is_set():
        fail("%s did not log in (%s)" % (who, "authentication failed" if c.failed.is_set()
                                         else "timeout"))


async def round_(port, mech):
    tag = mech.lower() if mech else "scram"
    alice = Client("alice@localhost/slix-" + tag, "alice-secret", mech)
    bob = Client("bob@localhost/slix-" + tag, "bob-secret", mech)
    try:
        await login(alice, port, "alice")
        await login(bob, port, "bob")
        used = {alice["feature_mechanisms"].mech.name, bob["feature_mechanisms"].mech.name}
        if mech and used != {mech}:
            fail("%s: mechanisms used: %s" % (tag, used))
        if not mech and not all(m.startswith("SCRAM-SHA-") for m in used):
            fail("scram: mechanisms used: %s" % used)
        print("PASS %s: both logged in (%s)" % (tag, ", ".join(sorted(used))), file=sys.stderr)

        alice.send_message(mto=bob.boundjid.full, mbody=BODY, mtype="chat")
        frm, body = await step("bob's message", bob.bodies.get())
        if body != BODY or frm != alice.boundjid.full:
            fail("%s: bob got %r from %s" % (tag, body, frm))
        bob.send_message(mto="alice@localhost", mbody=REPLY, mtype="chat")  # bare JID
        frm, body = await step("alice's message", alice.bodies.get())
        if body != REPLY or frm != bob.boundjid.full:
            fail("%s: alice got %r from %s" % (tag, body, frm))
        print("PASS %s: messages, bodies exact" % tag, file=sys.stderr)

        for c, who in ((alice, "alice"), (bob, "bob")):
            try:
                await step(who + "'s ping", c["xep_0199"].ping(jid="localhost", timeout=TIMEOUT))
            except slixmpp.exceptions.IqError as e:
                fail("%s: %s's ping: %s" % (tag, who, e.iq))
        print("PASS %s: ping" % tag, file=sys.stderr)

        for c, who, other in ((alice, "alice", "bob@localhost"), (bob, "bob", "alice@localhost")):
            res = await step(who + "'s roster", c.get_roster(timeout=TIMEOUT))
            items = res["roster"]["items"]
            if set(items.keys()) != {slixmpp.JID(other)} or \
                    items[slixmpp.JID(other)]["subscription"] != "both":
                fail("%s: %s's roster: %s" % (tag, who, res))
        print("PASS %s: roster" % tag, file=sys.stderr)
    finally:
        for c in (alice, bob):
            if c.started.is_set() and not c.gone.is_set():
                c.disconnect(wait=TIMEOUT)
        for c, who in ((alice, "alice"), (bob, "bob")):
            if c.started.is_set():
                try:
                    await asyncio.wait_for(c.gone.wait(), TIMEOUT)
                except asyncio.TimeoutError:
                    fail("%s: %s did not disconnect" % (tag, who))
    print("PASS %s: disconnected" % tag, file=sys.stderr)


def main():
    if len(sys.argv) != 2:
        print("usage: test_slixmpp.py PATH/TO/xsr-router", file=sys.stderr)
        return 2
    binary = sys.argv[1]
    if os.environ.get("XSR_INTEROP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    tmp = tempfile.mkdtemp(prefix="xsr-slix-")
    proc = None
    log_path = None
    rc = 1
    try:
        users = os.path.join(tmp, "users.json")
        add_user(binary, users, "alice@localhost", "alice-secret")
        add_user(binary, users, "bob@localhost", "bob-secret")
        with open(users) as f:
            doc = json.load(f)
        doc["users"]["alice"]["roster"] = [{"jid": "bob@localhost", "name": "Bob"}]
        doc["users"]["bob"]["roster"] = [{"jid": "alice@localhost", "name": "Alice"}]
        with open(users, "w") as f:
            json.dump(doc, f)
        proc, port, log_path = start_daemon(binary, tmp, users)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            for mech in (None, "PLAIN"):
                loop.run_until_complete(asyncio.wait_for(round_(port, mech), 6 * TIMEOUT))
        finally:
            # slixmpp leaves its stream tasks pending after a disconnect.
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except Exception as e:  # anything slixmpp raises
        print("FAIL: %r" % (e,), file=sys.stderr)
        rc = 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                st = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                st = -1
            if st != 0:
                print("FAIL: xsr-router exit status %s" % st, file=sys.stderr)
                rc = 1
            if rc:
                dump(log_path)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS" if rc == 0 else "FAILED", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
