"""The bytes of TFRecord files, written and read without TensorFlow.

A TFRecord file is records back to back, each framed as: little-endian uint64 length, masked
CRC-32C of those 8 bytes, the data, masked CRC-32C of the data. The records we write by hand
(`tf.train.Example`s, TensorBoard `Event`s) are protobufs, built of varints and
length-delimited fields.
"""

import google_crc32c

HEADER_BYTES = 12  # uint64 length + masked CRC of the length
FOOTER_BYTES = 4   # masked CRC of the data


def masked_crc32c(data):
    """TFRecord's masked CRC-32C of `data` (bytes), as an int: the CRC rotated and offset, as
    TensorFlow stores every CRC, because a CRC over data that holds CRCs is a weak check."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def record_header(length):
    """The frame's first 12 bytes for a record of `length` bytes."""
    size = length.to_bytes(8, "little")
    return size + masked_crc32c(size).to_bytes(4, "little")


def frame_record(data):
    """One record as it stands in a TFRecord file."""
    return record_header(len(data)) + data + masked_crc32c(data).to_bytes(4, "little")


def varint(value):
    """Protobuf's varint bytes of a non-negative int (7 bits a byte, low bits first)."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(field, payload):
    """A protobuf field of wire type 2 (bytes, string or message): key, length, payload."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload
