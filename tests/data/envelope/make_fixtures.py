#!/usr/bin/env python3
"""Writes the corrupt envelopes next to this script, for tests/unit/test_envelope.c.

Each file is an Envelope (proto/fusion.proto) encoded by hand, so that one thing is wrong while
everything else is what protobuf-c itself would write (fields in number order, proto3 defaults
left out, repeated enums packed): the decoder must stop at exactly that one thing. valid.bin is
well formed but signed by nobody. Run it again after changing the wire format:
    python3 tests/data/envelope/make_fixtures.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field, wire_type):
    return varint(field << 3 | wire_type)


def f_varint(field, value):
    return tag(field, 0) + varint(value) if value else b""


def f_bytes(field, data):
    return tag(field, 2) + varint(len(data)) + data if data else b""


def f_packed(field, values):
    body = b"".join(varint(v) for v in values)
    return tag(field, 2) + varint(len(body)) + body if values else b""


def f_message(field, body):
    return tag(field, 2) + varint(len(body)) + body


def descriptor(ident=1, tlp=2, categories=(1,), digest=b"\x11" * 32):
    return f_varint(1, ident) + f_varint(2, tlp) + f_packed(3, categories) + f_bytes(4, digest)


def header(version=1, msg_id=b"\x01" * 16, sender=b"THA.RTP.fp1", created=1780000000000,
           expires=1780604800000, kind=1, route=b"MMR>THA>MYS", purpose=4, audience=1,
           case_ref=b"", descriptors=None, extra=b""):
    if descriptors is None:
        descriptors = [descriptor(1), descriptor(2, tlp=3, categories=(3, 5))]
    return (f_varint(1, version) + f_bytes(2, msg_id) + f_bytes(3, sender) +
            f_varint(4, created) + f_varint(5, expires) + f_varint(6, kind) +
            f_bytes(10, route) + f_varint(12, purpose) + f_varint(15, audience) +
            f_bytes(18, case_ref) + b"".join(f_message(20, d) for d in descriptors) + extra)


def wrapped(recipient=b"IDN.POLRI.lo1", sealed=b"\x22" * 80):
    return f_bytes(1, recipient) + f_bytes(2, sealed)


def section(ident=1, nonce=b"\x33" * 24, ciphertext=b"\x44" * 40, keys=None):
    if keys is None:
        keys = [wrapped(), wrapped(b"MYS.PDRM.fp1")]
    return (f_varint(1, ident) + f_bytes(2, nonce) + f_bytes(3, ciphertext) +
            b"".join(f_message(4, k) for k in keys))


def envelope(head=None, signature=b"\x55" * 64, sections=None, extra=b""):
    if head is None:
        head = header()
    if sections is None:
        sections = [section(1), section(2)]
    return (f_bytes(1, head) + f_bytes(2, signature) +
            b"".join(f_message(3, s) for s in sections) + extra)


def many_descriptors(n):
    return [descriptor(i) for i in range(1, n + 1)]


FIXTURES = {
    "valid.bin": envelope(),
    "empty.bin": b"",
    "msg-id-15-bytes.bin": envelope(header(msg_id=b"\x01" * 15)),
    "msg-id-17-bytes.bin": envelope(header(msg_id=b"\x01" * 17)),
    "duplicate-descriptor-ids.bin": envelope(header(descriptors=[descriptor(1), descriptor(1)]),
                                             sections=[section(1)]),
    "duplicate-section.bin": envelope(sections=[section(1), section(1)]),
    "17-sections.bin": envelope(header(descriptors=many_descriptors(17)),
                                sections=[section(i) for i in range(1, 18)]),
    "section-without-descriptor.bin": envelope(header(descriptors=[descriptor(1)])),
    "section-id-0.bin": envelope(sections=[section(0)]),
    "section-id-256.bin": envelope(header(descriptors=[descriptor(256)]),
                                   sections=[section(256)]),
    # A header field whose length prefix claims 2^63 bytes.
    "huge-length-prefix.bin": tag(1, 2) + varint(1 << 63) + header(),
    "length-past-end.bin": envelope() + tag(3, 2) + varint(100) + b"\x08\x01",
    "unknown-field.bin": envelope(extra=f_varint(9, 1)),
    "unknown-field-in-header.bin": envelope(header(extra=f_varint(30, 1))),
    "unknown-enum-value.bin": envelope(header(descriptors=[descriptor(1, tlp=9),
                                                           descriptor(2)])),
    "nonce-23-bytes.bin": envelope(sections=[section(1), section(2, nonce=b"\x33" * 23)]),
    "hash-31-bytes.bin": envelope(header(descriptors=[descriptor(1),
                                                      descriptor(2, digest=b"\x11" * 31)])),
    "sealed-key-79-bytes.bin": envelope(sections=[section(1, keys=[wrapped(sealed=b"\x22" * 79)]),
                                                  section(2)]),
    "signature-63-bytes.bin": envelope(signature=b"\x55" * 63),
    "duplicate-recipient.bin": envelope(sections=[section(1, keys=[wrapped(), wrapped()]),
                                                  section(2)]),
    "invalid-recipient-label.bin": envelope(sections=[section(1, keys=[wrapped(b"idn.polri.lo1")]),
                                                      section(2)]),
    "no-wrapped-keys.bin": envelope(sections=[section(1, keys=[]), section(2)]),
    "1025-recipients.bin": envelope(sections=[
        section(1, keys=[wrapped(b"IDN.POLRI.u%d" % i) for i in range(1025)]), section(2)]),
    "route-257-bytes.bin": envelope(header(route=b"A" * 257)),
    "control-character-in-case-ref.bin": envelope(header(case_ref=b"RTP-\x1b[2J")),
    "no-descriptors.bin": envelope(header(descriptors=[]), sections=[section(1)]),
    "no-categories.bin": envelope(header(descriptors=[descriptor(1, categories=()),
                                                      descriptor(2)])),
    "expires-before-created.bin": envelope(header(expires=1770000000000)),
    "wrong-version.bin": envelope(header(version=2)),
    "invalid-sender.bin": envelope(header(sender=b"THA.RTP")),
    "nul-in-sender.bin": envelope(header(sender=b"THA.RTP.fp1\x00IDN.POLRI.fp1")),
    # msg_id before version: what another encoder might write; not the one byte form we sign.
    "header-not-canonical.bin": envelope(header()[2:20] + header()[:2] + header()[20:]),
    "ciphertext-shorter-than-tag.bin": envelope(sections=[section(1, ciphertext=b"\x44" * 15),
                                                          section(2)]),
    "header-over-64k.bin": envelope(header(case_ref=b"x" * 65536)),
}

if __name__ == "__main__":
    for name, data in FIXTURES.items():
        with open(os.path.join(HERE, name), "wb") as out:
            out.write(data)
    print("wrote %d fixtures to %s" % (len(FIXTURES), HERE))
