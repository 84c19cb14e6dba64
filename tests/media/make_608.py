#!/usr/bin/env python3
"""make_608.py <out.mp4> <seconds>

Test-source generator: H.264 + AAC MP4 whose video carries CEA-608 closed
captions in A/53 SEI (user_data_registered_itu_t_t35, "GA94", type 3), the way
broadcast / camera / NLE exports carry them. ffmpeg 5.1 can't inject these
itself (no ccrepack/a53 injection from a caption source), so we splice SEI NALs
into the Annex-B elementary stream and remux. Dependency-free (ffmpeg + python3).

Captions (pop-on, field 1 / CC1):
  "HELLO CAPTIONS" shown at 1.0 s, erased at 3.0 s
  "SECOND LINE"    shown at 4.0 s, erased at 6.0 s
"""
import os, subprocess, sys, tempfile

FPS = 30
# (text, show_s, erase_s). Loading happens in non-displayed memory beforehand;
# EOC at show_s swaps it on screen, EDM at erase_s clears the screen.
CAPTIONS = [("HELLO CAPTIONS", 1.0, 3.0), ("SECOND LINE", 4.0, 6.0)]

def odd(b):
    """608 bytes are 7-bit data + odd parity in bit 7."""
    return b | (0x80 if bin(b).count("1") % 2 == 0 else 0)

# CC1 (data channel 1, field 1) control codes: first byte 0x14.
RCL, EOC, EDM, ENM = (0x14, 0x20), (0x14, 0x2F), (0x14, 0x2C), (0x14, 0x2E)
PAC_ROW15 = (0x14, 0x70)  # preamble address code: row 15, indent 0, white

def schedule(nframes):
    """frame index -> (byte1, byte2) for field 1; unset frames get padding."""
    sched = {}
    def put(f, pair):
        assert f not in sched and f < nframes, "caption schedule overlaps/overflows"
        sched[f] = (odd(pair[0]), odd(pair[1]))
    for text, show, erase in CAPTIONS:
        # Control codes are sent twice in consecutive frames (broadcast practice;
        # decoders drop the immediate repeat), so the first copy is on time.
        txt = text.encode("ascii") + (b"\x00" if len(text) % 2 else b"")  # pad odd length with NUL
        load = [RCL, RCL, ENM, ENM, PAC_ROW15, PAC_ROW15]
        load += [(txt[i], txt[i + 1]) for i in range(0, len(txt), 2)]
        show_f, erase_f = round(show * FPS), round(erase * FPS)
        start = show_f - len(load) - 2  # finish loading just before the EOC
        for i, pair in enumerate(load):
            put(start + i, pair)
        for f, code in ((show_f, EOC), (show_f + 1, EOC), (erase_f, EDM), (erase_f + 1, EDM)):
            put(f, code)
    return sched

def emulation_prevent(rbsp):
    """Insert 0x03 after any 00 00 that is followed by a byte <= 3 (H.264 7.4.1)."""
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)

def sei_nal(b1, b2):
    cc = bytes([0xFC, b1, b2,      # marker 11111, cc_valid=1, cc_type=00 (field 1)
                0xFD, 0x80, 0x80])  # field 2: valid, null padding (cc_type=01)
    payload = (bytes([0xB5, 0x00, 0x31]) + b"GA94" + bytes([0x03])  # T.35 US, ATSC, GA94, cc_data
               + bytes([0x40 | 2, 0xFF])   # process_cc_data_flag=1, cc_count=2; em_data (reserved)
               + cc + b"\xFF")             # marker_bits
    assert len(payload) < 255
    rbsp = bytes([4, len(payload)]) + payload + b"\x80"  # payloadType 4, size, rbsp_trailing_bits
    return b"\x00\x00\x00\x01\x06" + emulation_prevent(rbsp)

def split_nals(data):
    """Split an Annex-B stream into NAL units (without start codes)."""
    idx, i = [], 0
    while (i := data.find(b"\x00\x00\x01", i)) >= 0:
        idx.append(i + 3)
        i += 3
    nals = []
    for k, s in enumerate(idx):
        e = idx[k + 1] - 3 if k + 1 < len(idx) else len(data)
        nals.append(data[s:e].rstrip(b"\x00"))  # drop 4-byte start-code zero / trailing zeros
    return nals

def main():
    out, secs = sys.argv[1], float(sys.argv[2])
    nframes = int(round(secs * FPS))
    with tempfile.TemporaryDirectory(prefix="make608-") as tmp:
        build(out, secs, nframes, tmp)

def build(out, secs, nframes, tmp):
    raw, aud, spliced = (os.path.join(tmp, n) for n in ("v.h264", "a.m4a", "cc.h264"))
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    # No B-frames keeps decode order == display order, so SEI #n belongs to frame n.
    subprocess.run(ff + ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}:duration={secs}",
                         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={secs}",
                         "-map", "0:v", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "0",
                         "-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0",
                         "-f", "h264", raw,
                         "-map", "1:a", "-c:a", "aac", "-b:a", "96k", aud], check=True)
    sched = schedule(nframes)
    frame, outb = 0, bytearray()
    for nal in split_nals(open(raw, "rb").read()):
        ntype = nal[0] & 0x1F
        # Slice (1 non-IDR, 5 IDR) with first_mb_in_slice == 0 (ue(v) '1' bit) starts a
        # new picture: put our SEI right before it, i.e. after AUD/SPS/PPS/other SEI.
        if ntype in (1, 5) and nal[1] & 0x80:
            outb += sei_nal(*sched.get(frame, (0x80, 0x80)))  # 0x80 0x80 = null padding
            frame += 1
        outb += b"\x00\x00\x00\x01" + nal
    open(spliced, "wb").write(outb)
    # Raw H.264 has no timestamps: -r 30 on the input assigns them; -c copy keeps the SEI.
    subprocess.run(ff + ["-r", str(FPS), "-f", "h264", "-i", spliced, "-i", aud,
                         "-map", "0:v", "-map", "1:a", "-c", "copy",
                         "-movflags", "+faststart", out], check=True)
    print(f"{out}: {frame} frames, {len(sched)} caption byte pairs")

if __name__ == "__main__":
    main()
