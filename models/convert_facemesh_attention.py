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
  centres; bilinear; zero where the sample point falls outside) -> GridSample.
- TransformLandmarks (v2): maps the heads' 2-D points through the matrix -> MatMul.

It then merges the heads into MediaPipe's refined layout (LandmarksRefinementCalculator
as configured for refine_landmarks=True): lips and eyes replace the mesh's x, y at the
indices the model's own crop subsets list; the iris points take the mean z of their
eye's 16 contour points. Outputs, all in pixels of the 192x192 crop like FaceMesh's:

  landmarks [1,1404]   468 x (x, y, z), refined
  iris      [1,30]     10 x (x, y, z): image-left eye's centre + 4 edge, then the other
  presence  [1,1]      face presence logit

Numerics: the trunk is a plain conversion (fp16 weights widened to fp32, NHWC -> NCHW);
PRelu and channel padding are rewritten as in convert_facemesh.nchwc_friendly. The check runs the model on
a real face crop and compares with the values recorded in the manifest.

  convert_facemesh_attention.py --tflite IN --out OUT --check JSON
  convert_facemesh_attention.py --onnx MODEL --check JSON [--print]
"""
import argparse
import json
import math
import sys

import numpy as np

import convert_facemesh as cf


def fail(msg: str):
    sys.exit(f"convert_facemesh_attention: {msg}")


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
            attrs = (self.flex.Loads(bytes(op.CustomOptionsAsNumpy()))
                     if op.CustomOptionsLength() else {})
            if code == "Landmarks2TransformMatrix" and oc.Version() == 2:
                self.landmarks_to_matrix(self.name(ins[0]), out, attrs)
            elif code == "TransformTensorBilinear" and oc.Version() == 2:
                self.transform_tensor(self.name(ins[0]), self.name(ins[1]), out,
                                      self.shape(outs[0])[1:3])
            elif code == "TransformLandmarks" and oc.Version() == 2:
                self.transform_landmarks(self.name(ins[0]), self.name(ins[1]), out)
            else:
                fail(f"custom operator {code} v{oc.Version()} is not supported")
            if code == "Landmarks2TransformMatrix":
                self.subsets.append((attrs["left_rotation_idx"], attrs["subset_idxs"]))
        else:
            fail(f"operator {kind} is not supported")

    # -- MediaPipe's custom operators -------------------------------------------------
    def scalar(self, x, idx):
        """x[..., idx] of a [468,2]-like tensor as a [1] tensor."""
        return self.node("Gather", [x, self.init("i", np.array([idx], np.int64))], axis=0)

    def landmarks_to_matrix(self, lm, out, a):
        """Landmarks2TransformMatrix v2 from standard operators: r is the rotation that
        levels the left->right landmark line (target_rotation_radians − atan2(dy, dx)),
        taken as cos/sin directly from the line's direction."""
        flat = self.node("Reshape", [lm, self.init("s", np.array([-1, 3], np.int64))])
        xy = self.node("Slice", [flat, self.init("b", np.array([0], np.int64)),
                                 self.init("e", np.array([2], np.int64)),
                                 self.init("ax", np.array([1], np.int64))])
        left = self.node("Gather", [xy, self.init("i", np.array(a["left_rotation_idx"]))], axis=0)
        right = self.node("Gather", [xy, self.init("i", np.array(a["right_rotation_idx"]))],
                          axis=0)
        d = self.node("Sub", [right, left])  # [2]
        norm = self.node("Sqrt", [self.node("ReduceSum", [self.node("Mul", [d, d])],
                                            keepdims=1)])
        u = self.node("Div", [d, norm])  # (cos θ, sin θ) of the landmark line
        cos_t, sin_t = self.scalar(u, 0), self.scalar(u, 1)
        t = float(a.get("target_rotation_radians", 0.0))
        ct, st = self.init("ct", np.array([math.cos(t)], np.float32)), self.init(
            "st", np.array([math.sin(t)], np.float32))
        # r = t − θ: cos r = cos t cos θ + sin t sin θ, sin r = sin t cos θ − cos t sin θ.
        c = self.node("Add", [self.node("Mul", [ct, cos_t]), self.node("Mul", [st, sin_t])])
        s = self.node("Sub", [self.node("Mul", [st, cos_t]), self.node("Mul", [ct, sin_t])])
        # The subset's extent in the rotated frame: u = c·x − s·y, v = s·x + c·y.
        pts = self.node("Gather", [xy, self.init("i", np.array(a["subset_idxs"], np.int64))],
                        axis=0)
        px, py = (self.node("Gather", [pts, self.init("i", np.array(k))], axis=1) for k in (0, 1))
        ru = self.node("Sub", [self.node("Mul", [c, px]), self.node("Mul", [s, py])])
        rv = self.node("Add", [self.node("Mul", [s, px]), self.node("Mul", [c, py])])
        umax, umin = self.node("ReduceMax", [ru], keepdims=1), self.node("ReduceMin", [ru],
                                                                         keepdims=1)
        vmax, vmin = self.node("ReduceMax", [rv], keepdims=1), self.node("ReduceMin", [rv],
                                                                         keepdims=1)
        half = self.init("half", np.array([0.5], np.float32))
        uc = self.node("Mul", [self.node("Add", [umax, umin]), half])
        vc = self.node("Mul", [self.node("Add", [vmax, vmin]), half])
        # Back by −r: x = c·u + s·v, y = −s·u + c·v.
        cx = self.node("Add", [self.node("Mul", [c, uc]), self.node("Mul", [s, vc])])
        cy = self.node("Sub", [self.node("Mul", [c, vc]), self.node("Mul", [s, uc])])
        ow, oh = float(a["output_width"]), float(a["output_height"])
        sx = self.node("Mul", [self.node("Sub", [umax, umin]),
                               self.init("k", np.array([a["scale_x"] / ow], np.float32))])
        sy = self.node("Mul", [self.node("Sub", [vmax, vmin]),
                               self.init("k", np.array([a["scale_y"] / oh], np.float32))])
        # T = shift(cx, cy) · rot(−r) · scale(sx, sy) · shift(−ow/2, −oh/2).
        m00 = self.node("Mul", [c, sx])
        m01 = self.node("Mul", [s, sy])
        m10 = self.node("Neg", [self.node("Mul", [s, sx])])
        m11 = self.node("Mul", [c, sy])
        hw, hh = (self.init("h", np.array([v / 2.0], np.float32)) for v in (ow, oh))
        m03 = self.node("Sub", [cx, self.node("Add", [self.node("Mul", [m00, hw]),
                                                      self.node("Mul", [m01, hh])])])
        m13 = self.node("Sub", [cy, self.node("Add", [self.node("Mul", [m10, hw]),
                                                      self.node("Mul", [m11, hh])])])
        zero, one = (self.init("z", np.array([v], np.float32)) for v in (0.0, 1.0))
        rows = [m00, m01, zero, m03, m10, m11, zero, m13, zero, zero, one, zero,
                zero, zero, zero, one]
        flat16 = self.node("Concat", rows, axis=0)
        self.node("Reshape", [flat16, self.init("s", np.array([1, 4, 4], np.int64))], [out])

    def affine_rows(self, m):
        """The 2x4 top of a [1,4,4] matrix as a [6] vector m00 m01 m03 m10 m11 m13."""
        flat = self.node("Reshape", [m, self.init("s", np.array([16], np.int64))])
        return self.node("Gather", [flat, self.init("i", np.array([0, 1, 3, 4, 5, 7],
                                                                   np.int64))], axis=0)

    def transform_tensor(self, x, m, out, out_hw):
        """TransformTensorBilinear v2: output pixel (i, j) samples the input at
        T·(j + 0.5, i + 0.5) − 0.5 (pixel centres), bilinearly, 0 outside the input."""
        oh, ow = out_hw
        ih, iw = self.in_hw[x]
        a = self.affine_rows(m)
        at = self.node("Reshape", [a, self.init("s", np.array([2, 3], np.int64))])
        jj, ii = np.meshgrid(np.arange(ow, dtype=np.float32), np.arange(oh, dtype=np.float32))
        g = np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5, np.ones(oh * ow, np.float32)], 1)
        pix = self.node("MatMul", [self.init("grid", g),
                                   self.node("Transpose", [at], perm=[1, 0])])  # [N,2]
        pix = self.node("Sub", [pix, self.init("h", np.array([0.5], np.float32))])
        # align_corners=1: −1 and +1 are the centres of the first and last pixels.
        scale = np.array([2.0 / (iw - 1), 2.0 / (ih - 1)], np.float32)
        norm = self.node("Sub", [self.node("Mul", [pix, self.init("k", scale)]),
                                 self.init("one", np.array([1.0], np.float32))])
        grid = self.node("Reshape", [norm, self.init("s", np.array([1, oh, ow, 2], np.int64))])
        sampled = self.node("GridSample", [x, grid], align_corners=1, mode="bilinear",
                            padding_mode="zeros")
        # The kernel writes 0 for any sample point outside [0, size − 1].
        reach = self.node("ReduceMax", [self.node("Abs", [norm])], axes=[1], keepdims=0)
        outside = self.node("Greater", [reach, self.init("lim", np.array([1.0 + 1e-6],
                                                                          np.float32))])
        inside = self.node("Cast", [self.node("Not", [outside])], to=1)
        mask = self.node("Reshape", [inside, self.init("s", np.array([1, 1, oh, ow], np.int64))])
        self.node("Mul", [sampled, mask], [out])

    def transform_landmarks(self, lm, m, out):
        """TransformLandmarks v2 (2-D): (x, y) -> the matrix's top two rows · (x, y, 0, 1)."""
        a = self.affine_rows(m)
        at = self.node("Transpose", [self.node("Reshape", [
            a, self.init("s", np.array([2, 3], np.int64))])], perm=[1, 0])  # [3,2]
        shape = self.lm_shape[lm]
        ones = self.init("ones", np.ones([shape[0], shape[1], 1], np.float32))
        self.node("MatMul", [self.node("Concat", [lm, ones], axis=2), at], [out])

    # -- whole model ------------------------------------------------------------------
    def convert(self, out_path: str):
        import onnx
        from onnx import TensorProto, helper

        sg = self.sg
        self.subsets = []
        names = {}
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            for t in op.OutputsAsNumpy():
                names[self.tensor(int(t)).Name().decode()] = int(t)
        # Shapes the custom operators need: the feature map's and the heads' points'.
        self.in_hw = {self.name(t): self.shape(t)[1:3] for t in names.values()
                      if len(self.shape(t)) == 4}
        self.lm_shape = {self.name(t): self.shape(t) for t in names.values()
                         if len(self.shape(t)) == 3}
        inp = int(sg.Inputs(0))
        if self.shape(inp) != [1, 192, 192, 3]:
            fail(f"input shape {self.shape(inp)}, want [1,192,192,3]")
        for i in range(sg.OperatorsLength()):
            self.convert_op(sg.Operators(i))

        def t(name):
            if name not in names:
                fail(f"the model has no tensor {name}")
            return self.name(names[name])

        # Refinement (MediaPipe's refine_landmarks=True): every head's points in one
        # table, then each mesh index takes its last refinement's row.
        if len(self.subsets) != 3:
            fail("expected three Landmarks2TransformMatrix operators (lips, two eyes)")
        by_first = {s[1][0]: s[1] for s in self.subsets}
        lips, leye, reye = by_first.get(61), by_first.get(33), by_first.get(263)
        if not (lips and leye and reye and len(lips) == 80 and len(leye) == 71
                and len(reye) == 71):
            fail("crop subsets are not lips (80, from 61), eyes (71, from 33 and 263)")
        mesh = self.node("Reshape", [t("output_mesh"),
                                     self.init("s", np.array([468, 3], np.int64))])
        mesh_xy = self.node("Slice", [mesh, self.init("b", np.array([0], np.int64)),
                                      self.init("e", np.array([2], np.int64)),
                                      self.init("ax", np.array([1], np.int64))])
        mesh_z = self.node("Slice", [mesh, self.init("b", np.array([2], np.int64)),
                                     self.init("e", np.array([3], np.int64)),
                                     self.init("ax", np.array([1], np.int64))])
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


def stats(out: dict, check: dict) -> dict:
    st = cf.stats({"l": out["landmarks"], "p": out["presence"]},
                  dict(check, landmarks_output="l", presence_output="p"))
    iris = out["iris"].reshape(10, 3)
    st["iris_l"] = [float(v) for v in iris[0]]
    st["iris_r"] = [float(v) for v in iris[5]]
    return st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tflite")
    ap.add_argument("--out")
    ap.add_argument("--onnx")
    ap.add_argument("--check", required=True, help="the manifest's check table as JSON")
    ap.add_argument("--print", action="store_true", help="print the check's stats")
    args = ap.parse_args()
    model = args.onnx
    if args.tflite:
        if not args.out:
            fail("--tflite needs --out")
        Converter(args.tflite).convert(args.out)
        cf.nchwc_friendly(args.out)
        model = args.out
    if not model:
        fail("need --tflite/--out or --onnx")
    check = json.loads(args.check)
    ins, outs = cf.model_io(model)
    if check.get("signature"):
        want = cf.parse_signature(check["signature"])
        if (ins, outs) != want:
            fail(f"signature mismatch: model has {cf.fmt_io(ins)} -> {cf.fmt_io(outs)}, "
                 f"manifest says {cf.fmt_io(want[0])} -> {cf.fmt_io(want[1])}")
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
