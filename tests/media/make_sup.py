# Minimal PGS (.sup) writer: two bitmap "subtitles" (a filled box), shown 1-3 s and 4-6 s.
# An empty display set at t=0 anchors the stream start (ffmpeg subtracts each input's start_time).
import struct, sys
W, H = 640, 360
def seg(t, pts, payload):
    return b"PG" + struct.pack(">IIBH", pts, 0, t, len(payload)) + payload
def rle(w, h, color):
    line = b"\x00" + bytes([0xC0 | (w >> 8), w & 0xFF, color]) + b"\x00\x00"  # w pixels of color, EOL
    return line * h
def show(pts, comp, ow=200, oh=40, x=220, y=300):
    pcs = struct.pack(">HHBHBBBB", W, H, 0x10, comp, 0x80, 0, 0, 1) + struct.pack(">HBBHH", 0, 0, 0, x, y)
    wds = struct.pack(">BBHHHH", 1, 0, x, y, ow, oh)
    pds = struct.pack(">BB", 0, 0) + bytes([1, 235, 128, 128, 255])  # entry 1: white, opaque
    data = rle(ow, oh, 1)
    ods = struct.pack(">HBB", 0, 0, 0xC0) + (len(data) + 4).to_bytes(3, "big") + struct.pack(">HH", ow, oh) + data
    return seg(0x16, pts, pcs) + seg(0x17, pts, wds) + seg(0x14, pts, pds) + seg(0x15, pts, ods) + seg(0x80, pts, b"")
def clear(pts, comp, x=220, y=300, ow=200, oh=40):
    pcs = struct.pack(">HHBHBBBB", W, H, 0x10, comp, 0x00, 0, 0, 0)
    wds = struct.pack(">BBHHHH", 1, 0, x, y, ow, oh)
    return seg(0x16, pts, pcs) + seg(0x17, pts, wds) + seg(0x80, pts, b"")
out = clear(0, 0) + show(90000, 0) + clear(270000, 1) + show(360000, 2) + clear(540000, 3)
open(sys.argv[1], "wb").write(out)
