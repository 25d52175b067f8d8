#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Converts MediaPipe's attention FaceMesh (face_landmark_with_attention.tflite: 468
mesh points with refined lips and eyes, plus 10 iris points, in one network) to ONNX,
and checks the result numerically.

tflite2onnx cannot read it: the model has three MediaPipe custom operators between its
trunk and its lips/eye/iris heads. This converter is written for exactly this model's
operator set and builds each custom operator from standard ONNX operators, following
the kernels' definitions in MediaPipe's mediapipe/util/tflite/operations/:

- Landmarks2TransformMatrix (v2): from the mesh, a 4x4 matrix mapping a 16x16 crop to
  the 48x48 feature map: rotated by the line between two landmarks, centred on a
  landmark subset's extent in that rotated frame, scaled by scale_x/scale_y.
- TransformTensorBilinear (v2): samples the feature map through that matrix (pixel
  centres; bilinear; zero where the sample point falls outside) -> four Gathers of
  channel rows and their weighted Sum.
- TransformLandmarks (v2): maps the heads' 2-D points through the matrix -> MatMul.

It then merges the heads into MediaPipe's refined layout (LandmarksRefinementCalculator
as configured for refine_landmarks=True): lips and eyes replace the mesh's x, y at the
indices the model's own crop subsets list; the iris points take the mean z of their
eye's 16 contour points. Outputs, all in pixels of the 192x192 crop like FaceMesh's:

  landmarks [1,1404]   468 x (x, y, z), refined
  iris      [1,30]     10 x (x, y, z): image-left eye's centre + 4 edge, then the other
  presence  [1,1]      face presence logit

Numerics: the trunk is a plain conversion (fp16 weights widened to fp32, NHWC -> NCHW).
For speed (ONNX Runtime's cost at these sizes is mostly per node): PRelu and channel
padding are rewritten as in convert_facemesh.nchwc_friendly, the three crops are computed
together, and the two eye heads run as one (merge_heads); 3.59 → 2.81 ms per run in
all, one thread, the outputs unchanged. The crops are four row Gathers, not GridSample
(ONNX Runtime's took 0.4-0.5 ms of the model's time, the Gathers and their sum under
0.15 ms); with nchwc_friendly's cheaper PRelu, 2.43 → 2.04 ms. The check runs the model on a real face crop and
compares with the values recorded in the manifest.

  convert_facemesh_attention.py --tflite IN --out OUT --check JSON
  convert_facemesh_attention.py --onnx MODEL --check JSON [--print]
"""
import json
import math
import sys

import numpy as np

import convert_facemesh as cf


def fail(msg: str):
    sys.exit(f"convert_facemesh_attention: {msg}")


cf.fail = fail  # the shared helpers' errors then name this converter


# tflite TensorType -> numpy
DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}


class Converter:
    def __init__(self, path: str):
        import tflite
        from flatbuffers import flexbuffers

        self.tfl = tflite
        self.flex = flexbuffers
        buf = open(path, "rb").read()
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.sg = self.model.Subgraphs(0)
        self.ops_by_code = {v: k for k, v in tflite.BuiltinOperator.__dict__.items()
                            if not k.startswith("_")}
        self.nodes = []
        self.inits = {}
        self.consts = {}  # tensor index -> numpy (tflite layout), for folding
        self.uid = 0

    # -- tensors ---------------------------------------------------------------------
    def tensor(self, i):
        return self.sg.Tensors(i)

    def name(self, i) -> str:
        return "t_" + self.tensor(i).Name().decode().replace("/", "_").replace(":", "_")

    def shape(self, i):
        t = self.tensor(i)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def const(self, i):
        """The constant value of tensor i (None for an activation)."""
        if i in self.consts:
            return self.consts[i]
        t = self.tensor(i)
        b = self.model.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        dt = DTYPES.get(t.Type())
        if dt is None:
            fail(f"tensor {t.Name()} has unsupported type {t.Type()}")
        v = np.frombuffer(b.DataAsNumpy().tobytes(), dtype=dt).reshape(self.shape(i))
        self.consts[i] = v
        return v

    def fresh(self, base: str) -> str:
        self.uid += 1
        return f"{base}__{self.uid}"

    def init(self, base: str, value) -> str:
        from onnx import numpy_helper
        name = self.fresh(base)
        self.inits[name] = numpy_helper.from_array(np.asarray(value), name)
        return name

    def node(self, op, inputs, outputs=None, **attrs) -> str:
        from onnx import helper
        out = outputs or [self.fresh(op.lower())]
        self.nodes.append(helper.make_node(op, inputs, out, name=self.fresh(op), **attrs))
        return out[0]

    # -- operators --------------------------------------------------------------------
    def same_pads(self, in_hw, k, s, d=1):
        pads = []
        for n, kk in zip(in_hw, k):
            out = -(-n // s)
            total = max((out - 1) * s + (kk - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]

    def opts(self, op, cls):
        o = cls()
        bo = op.BuiltinOptions()
        o.Init(bo.Bytes, bo.Pos)
        return o

    def conv(self, op, ins, out, depthwise):
        tfl = self.tfl
        o = self.opts(op, tfl.DepthwiseConv2DOptions if depthwise else tfl.Conv2DOptions)
        if o.FusedActivationFunction() != 0:
            fail("fused activations are not supported")
        w = self.const(ins[1]).astype(np.float32)
        b = self.const(ins[2]).astype(np.float32)
        x_shape = self.shape(ins[0])
        if depthwise:
            if o.DepthMultiplier() != 1:
                fail("depth multiplier != 1")
            wt = w.transpose(3, 0, 1, 2)  # [1,KH,KW,C] -> [C,1,KH,KW]
            group = x_shape[3]
        else:
            wt = w.transpose(0, 3, 1, 2)  # [O,KH,KW,I] -> [O,I,KH,KW]
            group = 1
        k = list(wt.shape[2:])
        s = o.StrideH()
        if o.StrideW() != s:
            fail("anisotropic stride")
        d = o.DilationHFactor()
        pads = self.same_pads(x_shape[1:3], k, s, d) if o.Padding() == 0 else [0, 0, 0, 0]
        self.node("Conv", [self.name(ins[0]), self.init("w", wt), self.init("b", b)], [out],
                  kernel_shape=k, strides=[s, s], pads=pads, dilations=[d, d], group=group)

    def channel_const(self, v):
        """A per-channel NHWC constant ([C], [1,1,C] or [1,1,1,C]) as NCHW [C,1,1]."""
        v = np.asarray(v, np.float32)
        return v.reshape(-1, 1, 1) if v.size > 1 else v.reshape(1)

    def convert_op(self, op):
        tfl = self.tfl
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        kind = self.ops_by_code.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()))
        ins = [int(i) for i in op.InputsAsNumpy()]
        outs = [int(i) for i in op.OutputsAsNumpy()]
        out = self.name(outs[0])
        if kind == "DEQUANTIZE":
            v = self.const(ins[0])
            if v is None:
                fail("DEQUANTIZE of an activation")
            self.consts[outs[0]] = v.astype(np.float32)
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            self.conv(op, ins, out, kind == "DEPTHWISE_CONV_2D")
        elif kind == "PRELU":
            a = self.channel_const(self.const(ins[1]))
            self.node("PRelu", [self.name(ins[0]), self.init("alpha", a)], [out])
        elif kind in ("ADD", "MUL"):
            if kind == "ADD" and self.opts(op, tfl.AddOptions).FusedActivationFunction() != 0:
                fail("fused activation on ADD")
            args = []
            for i in ins:
                c = self.const(i)
                if c is None:
                    args.append(self.name(i))
                elif len(self.shape(outs[0])) == 4:
                    args.append(self.init("c", self.channel_const(c)))
                else:
                    args.append(self.init("c", c.astype(np.float32)))
            self.node("Add" if kind == "ADD" else "Mul", args, [out])
        elif kind == "MAX_POOL_2D":
            o = self.opts(op, tfl.Pool2DOptions)
            k, s = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
            pads = (self.same_pads(self.shape(ins[0])[1:3], k, s[0]) if o.Padding() == 0
                    else [0, 0, 0, 0])
            self.node("MaxPool", [self.name(ins[0])], [out], kernel_shape=k, strides=s,
                      pads=pads)
        elif kind == "PAD":
            p = self.const(ins[1]).astype(np.int64)  # [[n0,n1],[h0,h1],[w0,w1],[c0,c1]]
            nchw = p[[0, 3, 1, 2]]
            pads = np.concatenate([nchw[:, 0], nchw[:, 1]])
            self.node("Pad", [self.name(ins[0]), self.init("pads", pads)], [out])
        elif kind == "RESHAPE":
            src, dst = self.shape(ins[0]), self.shape(outs[0])
            # Only flat vectors are reshaped here ([1,1,1,N] <-> [1,K,D]); NCHW [1,N,1,1]
            # holds them in the same order.
            if len(src) == 4 and src[1:3] != [1, 1] or len(dst) == 4 and dst[1:3] != [1, 1]:
                fail(f"reshape {src} -> {dst} of a spatial tensor")
            if len(dst) == 4:
                dst = [dst[0], dst[3], 1, 1]
            self.node("Reshape", [self.name(ins[0]), self.init("shape", np.array(dst, np.int64))],
                      [out])
        elif kind == "STRIDED_SLICE":
            b, e, s = (self.const(i) for i in ins[1:4])
            if list(b) != [0] * len(b) or list(e) != self.shape(ins[0]) or set(s) != {1}:
                fail("only a whole-tensor STRIDED_SLICE is supported")
            self.node("Identity", [self.name(ins[0])], [out])
        elif kind == "CUSTOM":
            code = oc.CustomCode().decode()
            if oc.Version() != 2 or code not in ("TransformLandmarks", *self.custom):
                fail(f"custom operator {code} v{oc.Version()} is not supported")
            if code == "TransformLandmarks":
                self.transform_landmarks(self.name(ins[0]), self.name(ins[1]), out)
            elif not self.custom_done.get(code):
                # The first of its kind computes them all.
                self.custom_done[code] = True
                if code == "Landmarks2TransformMatrix":
                    self.landmarks_to_matrices(self.custom[code])
                else:
                    self.transform_tensors(self.custom[code])
        else:
            fail(f"operator {kind} is not supported")

    # -- MediaPipe's custom operators -------------------------------------------------
    # The model crops its feature map three times (lips, two eyes): the matrices and the
    # crops of all three are computed together, batched on a leading axis, since at this
    # size ONNX Runtime's cost is per node, not per value.
    def cst(self, base, value, dtype=np.float32):
        return self.init(base, np.asarray(value, dtype))

    def affine_t(self, mats, k):
        """The transposed top two rows (x', y' = [x y 1] · A) of `k` stacked 4x4
        matrices ([k, 4, 4] or, for k = 1, [1, 4, 4]): [k, 3, 2]."""
        flat = self.node("Reshape", [mats, self.cst("s", [k, 16], np.int64)])
        rows = self.node("Gather", [flat, self.cst("i", [0, 1, 3, 4, 5, 7], np.int64)], axis=1)
        return self.node("Transpose", [self.node("Reshape", [rows, self.cst(
            "s", [k, 2, 3], np.int64)])], perm=[0, 2, 1])

    def slice(self, x, start, end, axis):
        return self.node("Slice", [x, self.cst("b", [start], np.int64),
                                   self.cst("e", [end], np.int64),
                                   self.cst("ax", [axis], np.int64)])

    def landmarks_to_matrices(self, ops):
        """Landmarks2TransformMatrix v2 for every (landmarks, out, attrs) of `ops`: r is the
        rotation that levels the left->right landmark line (target_rotation_radians −
        atan2(dy, dx)), taken as cos/sin directly from the line's direction; the crop is
        centred on a landmark subset's extent in the rotated frame and scaled by
        scale_x/scale_y; T = shift(centre) · rot(−r) · scale · shift(−output/2)."""
        k = len(ops)
        attrs = [a for _, _, a in ops]
        longest = max(len(a["subset_idxs"]) for a in attrs)
        # Subsets padded to one length by repeating an index: the extent is unchanged.
        subsets = np.array([a["subset_idxs"] + [a["subset_idxs"][0]] * (longest - len(a["subset_idxs"]))
                            for a in attrs], np.int64)
        per_op = lambda f: self.cst("p", np.array([f(a) for a in attrs]).reshape(k, 1, 1))  # noqa: E731
        lm = self.node("Concat", [self.node("Reshape", [x, self.cst("s", [1, -1, 3], np.int64)])
                                  for x, _, _ in ops], axis=0)
        xy = self.slice(lm, 0, 2, 2)  # [k, 468, 2]

        def gather(idx):  # [k, m] landmark indices -> [k, m, 2]
            idx = np.repeat(idx[:, :, None], 2, axis=2)
            return self.node("GatherElements", [xy, self.cst("i", idx, np.int64)], axis=1)

        ends = gather(np.array([[a["left_rotation_idx"], a["right_rotation_idx"]] for a in attrs]))
        d = self.node("Sub", [self.slice(ends, 1, 2, 1), self.slice(ends, 0, 1, 1)])  # [k,1,2]
        norm = self.node("Sqrt", [self.node("ReduceSum", [self.node("Mul", [d, d]),
                                                          self.cst("ax", [2], np.int64)],
                                            keepdims=1)])
        u = self.node("Div", [d, norm])  # (cos θ, sin θ) of the landmark line
        cos_t, sin_t = self.slice(u, 0, 1, 2), self.slice(u, 1, 2, 2)
        ct = per_op(lambda a: math.cos(a.get("target_rotation_radians", 0.0)))
        st = per_op(lambda a: math.sin(a.get("target_rotation_radians", 0.0)))
        # r = t − θ: cos r = cos t cos θ + sin t sin θ, sin r = sin t cos θ − cos t sin θ.
        c = self.node("Add", [self.node("Mul", [ct, cos_t]), self.node("Mul", [st, sin_t])])
        s = self.node("Sub", [self.node("Mul", [st, cos_t]), self.node("Mul", [ct, sin_t])])
        # The subset's extent in the rotated frame: u = c·x − s·y, v = s·x + c·y.
        pts = gather(subsets)
        px, py = self.slice(pts, 0, 1, 2), self.slice(pts, 1, 2, 2)  # [k, n, 1]
        ru = self.node("Sub", [self.node("Mul", [c, px]), self.node("Mul", [s, py])])
        rv = self.node("Add", [self.node("Mul", [s, px]), self.node("Mul", [c, py])])
        ext = {(r, f): self.node(f, [r], axes=[1], keepdims=1)
               for r in (ru, rv) for f in ("ReduceMax", "ReduceMin")}
        half = self.cst("half", [0.5])
        uc = self.node("Mul", [self.node("Add", [ext[ru, "ReduceMax"], ext[ru, "ReduceMin"]]), half])
        vc = self.node("Mul", [self.node("Add", [ext[rv, "ReduceMax"], ext[rv, "ReduceMin"]]), half])
        # Back by −r: x = c·u + s·v, y = −s·u + c·v.
        cx = self.node("Add", [self.node("Mul", [c, uc]), self.node("Mul", [s, vc])])
        cy = self.node("Sub", [self.node("Mul", [c, vc]), self.node("Mul", [s, uc])])
        sx = self.node("Mul", [self.node("Sub", [ext[ru, "ReduceMax"], ext[ru, "ReduceMin"]]),
                               per_op(lambda a: a["scale_x"] / a["output_width"])])
        sy = self.node("Mul", [self.node("Sub", [ext[rv, "ReduceMax"], ext[rv, "ReduceMin"]]),
                               per_op(lambda a: a["scale_y"] / a["output_height"])])
        m00 = self.node("Mul", [c, sx])
        m01 = self.node("Mul", [s, sy])
        m10 = self.node("Neg", [self.node("Mul", [s, sx])])
        m11 = self.node("Mul", [c, sy])
        hw = per_op(lambda a: a["output_width"] / 2.0)
        hh = per_op(lambda a: a["output_height"] / 2.0)
        m03 = self.node("Sub", [cx, self.node("Add", [self.node("Mul", [m00, hw]),
                                                      self.node("Mul", [m01, hh])])])
        m13 = self.node("Sub", [cy, self.node("Add", [self.node("Mul", [m10, hw]),
                                                      self.node("Mul", [m11, hh])])])
        zero, one = self.cst("z", np.zeros((k, 1, 1))), self.cst("o", np.ones((k, 1, 1)))
        rows = [m00, m01, zero, m03, m10, m11, zero, m13, zero, zero, one, zero,
                zero, zero, zero, one]
        mats = self.node("Reshape", [self.node("Concat", rows, axis=2),
                                     self.cst("s", [k, 4, 4], np.int64)])
        self.node("Split", [mats], [out for _, out, _ in ops], axis=0)

    def transform_tensors(self, ops):
        """TransformTensorBilinear v2 for every (input, matrix, out, out_hw) of `ops` on one
        input, computed together: output pixel (i, j) samples the input at
        T·(j + 0.5, i + 0.5) − 0.5 (pixel centres), bilinearly, 0 outside."""
        x = ops[0][0]
        (oh, ow) = ops[0][3]
        if any(o[0] != x or tuple(o[3]) != (oh, ow) for o in ops):
            fail("the feature crops differ in input or size")
        k = len(ops)
        ih, iw, c = self.in_hw[x]
        at = self.affine_t(self.node("Concat", [m for _, m, _, _ in ops], axis=0), k)
        jj, ii = np.meshgrid(np.arange(ow, dtype=np.float32), np.arange(oh, dtype=np.float32))
        g = np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5, np.ones(oh * ow, np.float32)], 1)
        pix = self.node("Sub", [self.node("MatMul", [self.cst("grid", g), at]),
                                self.cst("h", [0.5])])  # [k, oh·ow, 2]
        # The kernel writes 0 for any sample point outside [0, size − 1].
        size = self.cst("size", [iw - 1.0, ih - 1.0])
        zero = self.cst("zero", [0.0])
        outside = self.node("Or", [self.node("Less", [pix, self.cst("lo", [-1e-6])]),
                                   self.node("Greater", [pix, self.cst(
                                       "hi", [iw - 1.0 + 1e-6, ih - 1.0 + 1e-6])])])
        one = self.cst("one", [1.0])
        inside = self.node("Sub", [one, self.node("ReduceMax", [self.node(
            "Cast", [outside], to=1)], axes=[2], keepdims=1)])  # [k, N, 1]: 1 or 0
        # Bilinear sampling as four row gathers of the channels-last input (each a
        # C-float copy) and a weighted sum: ONNX Runtime's GridSample computes every
        # channel of every sample separately and was a fifth of the model's time.
        p = self.node("Min", [self.node("Max", [pix, zero]), size])
        p0 = self.node("Floor", [p])
        f1 = self.node("Sub", [p, p0])
        f0 = self.node("Sub", [one, f1])
        p1 = self.node("Min", [self.node("Add", [p0, one]), size])
        x0, y0 = self.slice(p0, 0, 1, 2), self.slice(p0, 1, 2, 2)
        x1, y1 = self.slice(p1, 0, 1, 2), self.slice(p1, 1, 2, 2)
        fx0, fy0 = self.slice(f0, 0, 1, 2), self.slice(f0, 1, 2, 2)
        fx1, fy1 = self.slice(f1, 0, 1, 2), self.slice(f1, 1, 2, 2)
        row = self.cst("w", [float(iw)])
        r0, r1 = self.node("Mul", [y0, row]), self.node("Mul", [y1, row])
        # Tap-major: [4, k·N] indices and weights, so that the weighted sum is over the
        # leading axis (a plain elementwise Sum of four [k·N, C] blocks).

        def taps(vs, shape):
            return self.node("Reshape", [self.node("Concat", vs, axis=0),
                                         self.cst("s", [4, k * oh * ow] + shape, np.int64)])
        idx = taps([self.node("Add", [r, col]) for r in (r0, r1) for col in (x0, x1)], [])
        idx = self.node("Cast", [idx], to=7)  # exact in float at these sizes
        wy0, wy1 = self.node("Mul", [fy0, inside]), self.node("Mul", [fy1, inside])
        w = taps([self.node("Mul", [a, b]) for a in (wy0, wy1) for b in (fx0, fx1)], [1])
        rows = self.node("Reshape", [self.node("Transpose", [x], perm=[0, 2, 3, 1]),
                                     self.cst("s", [ih * iw, c], np.int64)])
        gathered = self.node("Gather", [rows, idx], axis=0)  # [4, k·N, C]
        parts = [self.fresh("tap") for _ in range(4)]
        self.node("Split", [self.node("Mul", [gathered, w])], parts, axis=0)
        sampled = self.node("Sum", parts)
        sampled = self.node("Transpose", [self.node("Reshape", [sampled, self.cst(
            "s", [k, oh, ow, c], np.int64)])], perm=[0, 3, 1, 2])
        self.node("Split", [sampled], [o for _, _, o, _ in ops], axis=0)

    def transform_landmarks(self, lm, m, out):
        """TransformLandmarks v2 (2-D): (x, y) -> the matrix's top two rows · (x, y, 0, 1)."""
        at = self.affine_t(m, 1)
        shape = self.lm_shape[lm]
        ones = self.init("ones", np.ones([shape[0], shape[1], 1], np.float32))
        self.node("MatMul", [self.node("Concat", [lm, ones], axis=2), at], [out])

    # -- whole model ------------------------------------------------------------------
    def convert(self, out_path: str):
        import onnx
        from onnx import TensorProto, helper

        sg = self.sg
        names = {}
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            for t in op.OutputsAsNumpy():
                names[self.tensor(int(t)).Name().decode()] = int(t)
        # Shapes the custom operators need: the feature map's and the heads' points'.
        self.in_hw = {self.name(t): self.shape(t)[1:4] for t in names.values()
                      if len(self.shape(t)) == 4}
        self.lm_shape = {self.name(t): self.shape(t) for t in names.values()
                         if len(self.shape(t)) == 3}
        inp = int(sg.Inputs(0))
        if self.shape(inp) != [1, 192, 192, 3]:
            fail(f"input shape {self.shape(inp)}, want [1,192,192,3]")
        # The crops' custom operators of a kind, in model order, computed together.
        self.custom = {"Landmarks2TransformMatrix": [], "TransformTensorBilinear": []}
        self.custom_done = {}
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            oc = self.model.OperatorCodes(op.OpcodeIndex())
            code = oc.CustomCode().decode() if oc.CustomCode() else None
            ins = [int(x) for x in op.InputsAsNumpy()]
            out = int(op.OutputsAsNumpy()[0])
            if code == "Landmarks2TransformMatrix":
                attrs = self.flex.Loads(bytes(op.CustomOptionsAsNumpy()))
                self.custom[code].append((self.name(ins[0]), self.name(out), attrs))
            elif code == "TransformTensorBilinear":
                self.custom[code].append((self.name(ins[0]), self.name(ins[1]), self.name(out),
                                          self.shape(out)[1:3]))
        subsets = [a["subset_idxs"] for _, _, a in self.custom["Landmarks2TransformMatrix"]]
        for i in range(sg.OperatorsLength()):
            self.convert_op(sg.Operators(i))

        def t(name):
            if name not in names:
                fail(f"the model has no tensor {name}")
            return self.name(names[name])

        # Refinement (MediaPipe's refine_landmarks=True): every head's points in one
        # table, then each mesh index takes its last refinement's row.
        if len(subsets) != 3:
            fail("expected three Landmarks2TransformMatrix operators (lips, two eyes)")
        by_first = {s[0]: s for s in subsets}
        lips, leye, reye = by_first.get(61), by_first.get(33), by_first.get(263)
        if not (lips and leye and reye and len(lips) == 80 and len(leye) == 71
                and len(reye) == 71):
            fail("crop subsets are not lips (80, from 61), eyes (71, from 33 and 263)")
        mesh = self.node("Reshape", [t("output_mesh"), self.cst("s", [468, 3], np.int64)])
        mesh_xy, mesh_z = self.slice(mesh, 0, 2, 1), self.slice(mesh, 2, 3, 1)
        heads = [("transform_landmarks_v2", lips), ("transform_landmarks_v2_1", leye),
                 ("transform_landmarks_v2_3", reye)]
        parts = [mesh_xy]
        src = np.arange(468)
        row = 468
        for tensor, idx in heads:
            parts.append(self.node("Reshape", [t(tensor), self.init(
                "s", np.array([len(idx), 2], np.int64))]))
            src[np.array(idx)] = row + np.arange(len(idx))
            row += len(idx)
        table = self.node("Concat", parts, axis=0)
        xy = self.node("Gather", [table, self.init("src", src.astype(np.int64))], axis=0)
        refined = self.node("Concat", [xy, mesh_z], axis=1)
        self.node("Reshape", [refined, self.init("s", np.array([1, 1404], np.int64))],
                  ["landmarks"])
        iris = []
        for tensor, eye in (("transform_landmarks_v2_2", leye),
                            ("transform_landmarks_v2_4", reye)):
            p = self.node("Reshape", [t(tensor), self.init("s", np.array([5, 2], np.int64))])
            z = self.node("ReduceMean", [self.node("Gather", [
                mesh_z, self.init("i", np.array(eye[:16], np.int64))], axis=0)],
                axes=[0], keepdims=1)
            iris.append(self.node("Concat", [p, self.node("Expand", [
                z, self.init("s", np.array([5, 1], np.int64))])], axis=1))
        self.node("Reshape", [self.node("Concat", iris, axis=0),
                              self.init("s", np.array([1, 30], np.int64))], ["iris"])
        self.node("Reshape", [t("conv_faceflag"), self.init("s", np.array([1, 1], np.int64))],
                  ["presence"])

        # Keep only what the three outputs need.
        needed, keep = {"landmarks", "iris", "presence"}, []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.output):
                keep.append(n)
                needed.update(n.input)
        keep.reverse()
        graph = helper.make_graph(
            keep, "face_landmark_with_attention",
            [helper.make_tensor_value_info(self.name(inp), TensorProto.FLOAT,
                                           [1, 3, 192, 192])],
            [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, 1404]),
             helper.make_tensor_value_info("iris", TensorProto.FLOAT, [1, 30]),
             helper.make_tensor_value_info("presence", TensorProto.FLOAT, [1, 1])],
            [v for k, v in self.inits.items() if k in needed])
        # Rename the input to the FaceMesh name the elements' docs use.
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="gst-portrait convert_facemesh_attention")
        for n in m.graph.node:
            for k, v in enumerate(n.input):
                if v == self.name(inp):
                    n.input[k] = "input_1"
        m.graph.input[0].name = "input_1"
        m.ir_version = 8
        onnx.checker.check_model(m)
        onnx.save(m, out_path)


def merge_heads(path: str, starts: list):
    """Runs sub-networks of the same shape as one, as far as their shapes agree.

    `starts` holds, for each head, the tensors it starts from (alike in number and
    order). The heads' convolution layers, in graph order, are paired position by
    position while every head has the same operator, attributes, weight shapes and
    wiring there; those become grouped convolutions over all heads (the channels of
    the first head first; Conv group ×N; Relu, MaxPool and Add act per channel
    anyway). Where a merged tensor is used outside the merged part, a Split gives each
    head's part its old name. The values are the same; ONNX Runtime runs fewer nodes,
    and at 16x16 and below its cost is per node."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    feature_ops = {"Conv", "Relu", "Add", "MaxPool"}
    n_heads = len(starts)

    def head(first):
        reached, nodes = set(first), []
        for n in g.node:
            if n.op_type in feature_ops and any(i in reached for i in n.input):
                nodes.append(n)
                reached.update(n.output)
        return nodes

    heads = [head(s) for s in starts]
    chans = cf.channel_counts(m)
    # Each head's tensors by their place: ("in", j) for its j-th start, (k, o) for
    # output o of its k-th node.
    place = [{t: ("in", j) for j, t in enumerate(s)} for s in starts]

    def attrs(n):
        return {t.name: helper.get_attribute_value(t) for t in n.attribute}

    length = 0
    for k in range(min(len(h) for h in heads)):
        ns = [h[k] for h in heads]
        same = (len({(n.op_type, len(n.input)) for n in ns}) == 1
                and all(attrs(n) == attrs(ns[0]) for n in ns))
        for slot in range(len(ns[0].input)) if same else []:
            ins = [n.input[slot] for n in ns]
            if all(i in inits for i in ins):
                same &= len({inits[i].shape for i in ins}) == 1
            else:
                where = [pl.get(i) for pl, i in zip(place, ins)]
                same &= where[0] is not None and all(w == where[0] for w in where)
        if not same:
            break
        for pl, n in zip(place, ns):
            pl.update({o: (k, oi) for oi, o in enumerate(n.output)})
        length = k + 1
    if length == 0:
        fail(f"the heads from {starts} differ from their first layer")

    nodes, extra = [], []
    merged = {}
    for j in range(len(starts[0])):
        name = f"{starts[0][j]}_x{n_heads}"
        if len({chans.get(s[j]) for s in starts}) != 1:
            fail(f"the heads' inputs {[s[j] for s in starts]} differ in channels")
        nodes.append(helper.make_node("Concat", [s[j] for s in starts], [name], name=name,
                                      axis=1))
        merged[("in", j)] = name
    per_head = {merged[("in", j)]: chans[starts[0][j]] for j in range(len(starts[0]))}
    for k in range(length):
        ns = [h[k] for h in heads]
        x, at = ns[0], attrs(ns[0])
        ins = []
        for slot, i in enumerate(x.input):
            if i in inits:
                name = f"{i}_x{n_heads}"
                extra.append(numpy_helper.from_array(
                    np.concatenate([inits[n.input[slot]] for n in ns], axis=0), name))
                ins.append(name)
            else:
                ins.append(merged[place[0][i]])
        out = f"{x.output[0]}_x{n_heads}"
        if x.op_type == "Conv":
            at["group"] = n_heads * at.get("group", 1)
            per_head[out] = inits[x.input[1]].shape[0]
        else:
            per_head[out] = per_head[ins[0]]
        merged[(k, 0)] = out
        nodes.append(helper.make_node(x.op_type, ins, [out], name=f"{x.name}_x{n_heads}",
                                      **at))
    # Outputs used outside the merged part get their old names back.
    inside = {id(h[k]) for h in heads for k in range(length)}
    used_outside = {i for n in g.node if id(n) not in inside for i in n.input}
    used_outside |= {o.name for o in g.output}
    for k in range(length):
        olds = [h[k].output[0] for h in heads]
        if any(o in used_outside for o in olds):
            c = per_head[merged[(k, 0)]]
            split = f"{olds[0]}_split"
            extra.append(numpy_helper.from_array(np.full(n_heads, c, np.int64), split))
            nodes.append(helper.make_node("Split", [merged[(k, 0)], split], olds, axis=1,
                                          name=f"{olds[0]}_unmerge"))
    # Old nodes out, new ones in, in an order that respects every edge.
    pending = [n for n in g.node if id(n) not in inside] + nodes
    produced = {i.name for i in g.input} | set(inits) | {e.name for e in extra} | {""}
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in produced for i in n.input)]
        if not ready:
            fail("merging the heads left a cycle")
        for n in ready:
            produced.update(n.output)
        ordered += ready
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    del g.node[:]
    g.node.extend(ordered)
    g.initializer.extend(extra)
    cf.drop_unused_initializers(g)
    del g.value_info[:]
    onnx.checker.check_model(m)
    onnx.save(m, path)
    print(f"convert_facemesh_attention: merged {length} layers of {n_heads} heads",
          file=sys.stderr)


def stats(out: dict, check: dict) -> dict:
    st = cf.stats({"l": out["landmarks"], "p": out["presence"]},
                  dict(check, landmarks_output="l", presence_output="p"))
    iris = out["iris"].reshape(10, 3)
    st["iris_l"] = [float(v) for v in iris[0]]
    st["iris_r"] = [float(v) for v in iris[5]]
    return st


def convert(tflite: str, out: str):
    Converter(tflite).convert(out)
    cf.nchwc_friendly(out)
    # The two eye heads have the same shape throughout. (The lips head shares its first
    # 53 layers with them, but merging those too measured no faster.)
    merge_heads(out, [["t_transform_tensor_bilinear_v2_1"], ["t_transform_tensor_bilinear_v2_2"]])


def main():
    args = cf.arguments()
    check, model, ins, outs = cf.prepare(args, ["image", "crop", "size", "range", "points"],
                                         convert)
    got = stats(cf.run_model(model, cf.make_input(check)), check)
    if args.print:
        print(f"signature: {cf.fmt_io(ins)} -> {cf.fmt_io(outs)}")
        print(json.dumps(got))
        return
    cf.compare(got, check)
    print(f"convert_facemesh_attention: check passed: presence logit {got['presence']:.4f}, "
          f"mean {got['mean']:.4f}, std {got['std']:.4f}")


if __name__ == "__main__":
    main()
