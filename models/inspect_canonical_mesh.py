#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Decodes canonical_face_mesh.binarypb (MediaPipe GeometryPipelineMetadata) with a
hand-written protobuf reader (stdlib only) and prints what it holds.

  GeometryPipelineMetadata { 3: input_source (enum), 1: canonical_mesh (Mesh3d),
                             2: procrustes_landmark_basis (repeated WeightedLandmarkRef) }
  Mesh3d { 1: vertex_type (enum, 0 = VERTEX_PT: x,y,z,u,v), 2: primitive_type
           (enum, 0 = TRIANGLE), 3: vertex_buffer (packed float),
           4: index_buffer (packed uint32) }
  WeightedLandmarkRef { 1: landmark_id (uint32), 2: weight (float) }

Usage: inspect_canonical_mesh.py [PATH]   (default: <cache>/models/canonical_face_mesh.binarypb)
Exits non-zero if the structure is not 468 vertices x 5 floats, 898 triangles.
"""
import os
import struct
import sys
from pathlib import Path


def varint(b, p):
    v = s = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, p


def fields(b):
    """Yields (field number, wire type, value) for one message; value is bytes for
    length-delimited fields, an int for varints, raw bytes for fixed32/64."""
    p = 0
    while p < len(b):
        key, p = varint(b, p)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, p = varint(b, p)
        elif wt == 1:
            v, p = b[p:p + 8], p + 8
        elif wt == 2:
            n, p = varint(b, p)
            v, p = b[p:p + n], p + n
        elif wt == 5:
            v, p = b[p:p + 4], p + 4
        else:
            raise ValueError(f"unsupported wire type {wt} at {p}")
        if p > len(b):
            raise ValueError("truncated message")
        yield num, wt, v


def packed_varints(b):
    out, p = [], 0
    while p < len(b):
        v, p = varint(b, p)
        out.append(v)
    return out


def decode(data: bytes) -> dict:
    meta = {"input_source": None, "vertex_type": None, "primitive_type": None,
            "vertices": [], "indices": [], "basis": [], "top_fields": []}
    for num, wt, v in fields(data):
        meta["top_fields"].append((num, wt))
        if num == 3 and wt == 0:
            meta["input_source"] = v
        elif num == 1 and wt == 2:
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    meta["vertex_type"] = v2
                elif n2 == 2:
                    meta["primitive_type"] = v2
                elif n2 == 3 and w2 == 2:
                    meta["vertices"] += struct.unpack(f"<{len(v2) // 4}f", v2)
                elif n2 == 3 and w2 == 5:
                    meta["vertices"].append(struct.unpack("<f", v2)[0])
                elif n2 == 4 and w2 == 2:
                    meta["indices"] += packed_varints(v2)
                elif n2 == 4 and w2 == 0:
                    meta["indices"].append(v2)
        elif num == 2 and wt == 2:
            ref = {"landmark_id": 0, "weight": 0.0}
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    ref["landmark_id"] = v2
                elif n2 == 2:
                    ref["weight"] = struct.unpack("<f", v2)[0]
            meta["basis"].append((ref["landmark_id"], ref["weight"]))
    return meta


def main():
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        cache = os.environ.get("GST_PORTRAIT_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gst-portrait")
        path = Path(cache) / "models" / "canonical_face_mesh.binarypb"
    m = decode(path.read_bytes())
    from collections import Counter
    nv, ni = len(m["vertices"]), len(m["indices"])
    print(f"{path}: {path.stat().st_size} bytes")
    print(f"top-level fields (number, wire type): {sorted(Counter(m['top_fields']).items())}")
    print(f"input_source={m['input_source']} vertex_type={m['vertex_type']} "
          f"primitive_type={m['primitive_type']}")
    print(f"vertex_buffer: {nv} floats = {nv / 5:g} vertices x 5 (x,y,z,u,v)")
    print(f"index_buffer: {ni} = {ni / 3:g} triangles, max index {max(m['indices'])}")
    print(f"vertex 0: {m['vertices'][:5]}")
    ws = [w for _, w in m["basis"]]
    print(f"procrustes_landmark_basis: {len(m['basis'])} entries, weight sum {sum(ws):.6f}")
    print(f"  {m['basis']}")
    ok = nv == 468 * 5 and ni == 898 * 3 and max(m["indices"]) < 468 and m["basis"]
    if not ok:
        sys.exit("inspect_canonical_mesh: unexpected structure")


if __name__ == "__main__":
    main()
