#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An independent WebRTC viewer for the broadcast tests and benchmark (aiortc, not
GStreamer): receives what webrtcsink or whipclientsink send, on 127.0.0.1.

Two ways in:
  --signalling ws://HOST:PORT  consumes the first producer announced by webrtcsink's
                               signalling server (its JSON protocol: setPeerStatus,
                               list, startSession, peer sdp/ice);
  --whip-port PORT             is a WHIP endpoint (POST offer -> 201 answer) at
                               http://127.0.0.1:PORT/whip for whipclientsink.

What it writes:
  --out FILE.mkv   the received video (re-encoded H.264, near lossless) and audio
                   (PCM), timestamped in the *sender's* time: each track's RTP
                   timestamps mapped through its first RTCP sender report (the same
                   mapping a browser uses for lip sync), so the A/V offset measured on
                   the file is the one a viewer sees;
  --markers FILE   for each decoded frame, the capture time the sender drew into its
                   top row (24-bit ms code, see benches/broadcast.rs) and the Unix time
                   it was decoded here, tab-separated;
  a JSON summary on stdout at the end (frames, audio seconds, codecs, sync).
It stops after --seconds, when the sender ends the session, or --idle seconds after
the last frame.
"""
import argparse
import asyncio
import json
import sys
import time
from fractions import Fraction

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc import rtcdtlstransport, rtcrtpreceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

# The first RTCP sender report of each receiver: (NTP seconds, RTP timestamp). aiortc
# reads SRs but does not expose them.
_handle_rtcp = rtcrtpreceiver.RTCRtpReceiver._handle_rtcp_packet


async def _keep_first_sr(self, packet):
    if isinstance(packet, rtcrtpreceiver.RtcpSrPacket) and not hasattr(self, "gp_sr"):
        ntp = packet.sender_info.ntp_timestamp
        self.gp_sr = ((ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32, packet.sender_info.rtp_timestamp)
    await _handle_rtcp(self, packet)


rtcrtpreceiver.RTCRtpReceiver._handle_rtcp_packet = _keep_first_sr

# aiortc offers only ECDSA cipher suites; GStreamer's DTLS (webrtcbin) presents an RSA
# certificate, so the handshake fails. Browsers offer both: so does this viewer.
_create_ssl_context = rtcdtlstransport.RTCCertificate._create_ssl_context


def _browser_ciphers(self, srtp_profiles):
    ctx = _create_ssl_context(self, srtp_profiles)
    ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                        b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                        b"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA")
    return ctx


rtcdtlstransport.RTCCertificate._create_ssl_context = _browser_ciphers

MARKER_CELL = 16
MARKER_BITS = 24


def read_marker(frame):
    """The ms code in the frame's top row of cells: a white and a black cell, then
    MARKER_BITS cells, most significant first (white = 1). None if absent. Reads the
    luma plane (no numpy in this venv)."""
    c = MARKER_CELL
    if frame.width < (MARKER_BITS + 2) * c or frame.height < c:
        return None
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    stride = plane.line_size
    data = bytes(plane)
    lo, hi = c // 4, 3 * c // 4

    def cell(i):
        x = i * c
        return sum(sum(data[y * stride + x + lo:y * stride + x + hi])
                   for y in range(lo, hi)) / ((hi - lo) ** 2)

    white, black = cell(0), cell(1)
    if white - black < 100:
        return None
    mid = (white + black) / 2
    v = 0
    for i in range(MARKER_BITS):
        v = (v << 1) | (cell(2 + i) > mid)
    return v


class Track:
    def __init__(self, kind, receiver):
        self.kind = kind
        self.receiver = receiver
        self.pending = []  # frames waiting for the first sender report
        self.frames = 0
        self.samples = 0
        self.rate = 0
        self.first_arrival = None
        self.last_arrival = None

    def sender_time(self, frame):
        """Seconds of the sender's NTP clock at which `frame` was captured, or None
        before the first sender report."""
        sr = getattr(self.receiver, "gp_sr", None)
        mapper = getattr(self.receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        if sr is None or mapper is None or mapper._origin is None:
            return None
        clock = 1 / frame.time_base
        rtp = frame.pts + mapper._origin
        d = ((rtp - sr[1] + 2**31) % 2**32) - 2**31
        return sr[0] + d / clock


class Recorder:
    """Writes frames to a Matroska file in sender time once every track can be mapped
    (or, after `wait` s without sender reports, in arrival time: sync='arrival')."""

    def __init__(self, path, wait=8.0):
        self.path = path
        self.wait = wait
        self.tracks = []
        self.out = None
        self.streams = {}
        self.t0 = None
        self.sync = None
        self.started = time.time()
        self.last_pts = {}

    def add(self, frame, track):
        if self.path is None:
            return
        if self.sync is None:
            track.pending.append((frame, time.time()))
            ready = all(getattr(t.receiver, "gp_sr", None) for t in self.tracks)
            if ready or time.time() - self.started > self.wait:
                self.open("rtcp-sr" if ready else "arrival")
            return
        self.write(frame, track, time.time())

    def open(self, sync):
        self.sync = sync
        self.out = av.open(self.path, "w", format="matroska")
        for t in self.tracks:
            if not t.pending:
                continue
            first = t.pending[0][0]
            if t.kind == "video":
                s = self.out.add_stream("libx264", rate=25, options={
                    "preset": "ultrafast", "crf": "8", "bframes": "0"})
                s.width, s.height, s.pix_fmt = first.width, first.height, "yuv420p"
                s.codec_context.time_base = Fraction(1, 1000)
            else:
                s = self.out.add_stream("pcm_s16le", rate=first.sample_rate)
                s.codec_context.layout = first.layout.name
                s.codec_context.format = "s16"
            self.streams[t.kind] = s
        times = [self.time_of(f, t, at) for t in self.tracks for f, at in t.pending[:1]]
        self.t0 = min(times)
        for t in self.tracks:
            for f, at in t.pending:
                self.write(f, t, at)
            t.pending = []

    def time_of(self, frame, track, arrival):
        if self.sync == "rtcp-sr":
            return track.sender_time(frame)
        return arrival

    def write(self, frame, track, arrival):
        s = self.streams.get(track.kind)
        if s is None:
            return
        t = self.time_of(frame, track, arrival) - self.t0
        if track.kind == "video":
            pts = int(round(t * 1000))
            pts = max(pts, self.last_pts.get("video", -1) + 1)
            frame = frame.reformat(format="yuv420p")
            frame.time_base = Fraction(1, 1000)
        else:
            pts = int(round(t * frame.sample_rate))
            frame.time_base = Fraction(1, frame.sample_rate)
        if pts < 0:
            return
        self.last_pts[track.kind] = pts
        frame.pts = pts
        for p in s.encode(frame):
            self.out.mux(p)

    def close(self):
        if self.out is None and any(t.pending for t in self.tracks):
            self.open("arrival")
        if self.out is None:
            return
        for s in self.streams.values():
            for p in s.encode(None):
                self.out.mux(p)
        self.out.close()


class Session:
    def __init__(self, args):
        self.args = args
        self.pc = RTCPeerConnection()
        self.tracks = []
        self.recorder = Recorder(args.out)
        self.markers = open(args.markers, "w") if args.markers else None
        self.done = asyncio.Event()
        self.last_frame = None
        self.tasks = []
        self.pc.on("track", self.on_track)

    def on_track(self, track):
        receiver = next(t.receiver for t in self.pc.getTransceivers()
                        if t.receiver.track is track)
        t = Track(track.kind, receiver)
        self.tracks.append(t)
        self.recorder.tracks.append(t)
        self.tasks.append(asyncio.ensure_future(self.consume(track, t)))

    async def consume(self, track, t):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self.done.set()
                return
            now = time.time()
            t.first_arrival = t.first_arrival or now
            t.last_arrival = now
            self.last_frame = now
            if t.kind == "video":
                t.frames += 1
                if self.markers:
                    code = read_marker(frame)
                    if code is not None:
                        self.markers.write(f"{code}\t{now:.6f}\n")
            else:
                t.samples += frame.samples
                t.rate = frame.sample_rate
            self.recorder.add(frame, t)

    async def answer(self, offer_sdp):
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def add_candidate(self, candidate, index):
        if not candidate:
            return
        c = candidate_from_sdp(candidate.split(":", 1)[1])
        c.sdpMLineIndex = index
        await self.pc.addIceCandidate(c)

    async def watch(self):
        """Until the sender ends, the time is up, or no frame for --idle seconds."""
        end = time.time() + self.args.seconds
        while time.time() < end and not self.done.is_set():
            if self.last_frame and time.time() - self.last_frame > self.args.idle:
                break
            await asyncio.sleep(0.1)

    async def close(self):
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        self.recorder.close()
        if self.markers:
            self.markers.close()

    def summary(self, how):
        out = {"via": how, "sync": self.recorder.sync, "tracks": []}
        for t in self.tracks:
            d = {"kind": t.kind, "frames": t.frames}
            if t.kind == "audio":
                d["seconds"] = t.samples / t.rate if t.rate else 0.0
            if t.first_arrival:
                d["arrival_span_s"] = t.last_arrival - t.first_arrival
            out["tracks"].append(d)
        sdp = self.pc.localDescription.sdp if self.pc.localDescription else ""
        out["codecs"] = [line.split()[1] for line in sdp.splitlines()
                         if line.startswith("a=rtpmap:")][:4]
        return out


async def via_signalling(args):
    import websockets

    s = Session(args)
    deadline = time.time() + args.connect_timeout
    while True:
        try:
            ws = await websockets.connect(args.signalling, ping_interval=None)
            break
        except OSError:
            if time.time() > deadline:
                raise
            await asyncio.sleep(0.2)
    session_id = None

    async def send(msg):
        await ws.send(json.dumps(msg))

    await send({"type": "setPeerStatus", "roles": ["listener"], "meta": None})
    await send({"type": "list"})

    async def pump():
        nonlocal session_id
        async for raw in ws:
            msg = json.loads(raw)
            kind = msg.get("type")
            producer = None
            if kind == "list" and msg.get("producers"):
                producer = msg["producers"][0]["id"]
            elif kind == "peerStatusChanged" and "producer" in msg.get("roles", []):
                producer = msg.get("peerId")
            if producer and session_id is None:
                session_id = ""
                await send({"type": "startSession", "peerId": producer})
            elif kind == "sessionStarted":
                session_id = msg["sessionId"]
            elif kind == "peer" and "sdp" in msg:
                answer = await s.answer(msg["sdp"]["sdp"])
                await send({"type": "peer", "sessionId": msg["sessionId"],
                            "sdp": {"type": "answer", "sdp": answer}})
            elif kind == "peer" and "ice" in msg:
                ice = msg["ice"]
                await s.add_candidate(ice["candidate"], ice["sdpMLineIndex"])
            elif kind == "endSession":
                s.done.set()
            elif kind == "error":
                print(f"receiver: signalling error: {msg.get('details')}", file=sys.stderr)

    pumping = asyncio.ensure_future(pump())
    await s.watch()
    pumping.cancel()
    if session_id:
        try:
            await send({"type": "endSession", "sessionId": session_id})
        except Exception:
            pass
    await ws.close()
    await s.close()
    return s.summary("webrtcsink signalling")


async def via_whip(args):
    s = Session(args)
    answered = asyncio.Event()

    async def handle(reader, writer):
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")
            method, path = lines[0].split()[:2]
            headers = {k.strip().lower(): v.strip() for k, v in
                       (h.split(":", 1) for h in lines[1:] if ":" in h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "POST" and not answered.is_set():
                answer = (await s.answer(body.decode())).encode()
                answered.set()
                reply = (b"HTTP/1.1 201 Created\r\nContent-Type: application/sdp\r\n"
                         b"Location: /whip/session\r\nContent-Length: "
                         + str(len(answer)).encode() + b"\r\n\r\n" + answer)
            elif method == "DELETE":
                s.done.set()
                reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            else:  # OPTIONS, PATCH (trickle ICE: our answer carries every candidate)
                reply = b"HTTP/1.1 204 No Content\r\n\r\n"
            writer.write(reply)
            await writer.drain()
        except asyncio.IncompleteReadError as e:
            if e.partial:  # (an empty connection is someone checking the port)
                print(f"receiver: bad WHIP request: {e}", file=sys.stderr)
        except ValueError as e:
            print(f"receiver: bad WHIP request: {e}", file=sys.stderr)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.whip_port)
    print(f"receiver: WHIP endpoint http://127.0.0.1:{args.whip_port}/whip", file=sys.stderr,
          flush=True)
    await s.watch()
    server.close()
    await s.close()
    return s.summary("WHIP")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signalling")
    ap.add_argument("--whip-port", type=int)
    ap.add_argument("--out")
    ap.add_argument("--markers")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--connect-timeout", type=float, default=20.0)
    args = ap.parse_args()
    if bool(args.signalling) == bool(args.whip_port):
        ap.error("one of --signalling or --whip-port")
    run = via_signalling if args.signalling else via_whip
    summary = asyncio.run(run(args))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
