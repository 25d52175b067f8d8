// SPDX-License-Identifier: MIT

//! Writes tiny ONNX fixture models (hand-encoded protobuf) for tests that need a valid
//! model of a given I/O signature: the ONNX protobuf schema is small enough that a
//! dozen lines of varint/length-delimited encoding cover Identity/Concat graphs, and
//! nodes with attributes (Constant tensors, ReduceMean axes) for fixtures whose outputs
//! are known functions of the input.
//!
//! Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto,
//! AttributeProto, TensorProto, ValueInfoProto); repeated integers are written
//! unpacked, which every protobuf parser accepts.

use std::path::Path;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
    varint((field as u64) << 3, out); // wire type 0: varint
    varint(v, out);
}

fn field_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(((field as u64) << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// ValueInfoProto of a float tensor; negative dims become symbolic ("d0", "d1", ...).
fn value_info(name: &str, dims: &[i64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        let mut dim = Vec::new();
        if *d >= 0 {
            field_varint(1, *d as u64, &mut dim);
        } else {
            field_bytes(2, format!("{name}_d{i}").as_bytes(), &mut dim);
        }
        field_bytes(1, &dim, &mut shape);
    }
    let mut tensor = Vec::new();
    field_varint(1, 1, &mut tensor); // elem_type FLOAT
    field_bytes(2, &shape, &mut tensor);
    let mut ty = Vec::new();
    field_bytes(1, &tensor, &mut ty);
    let mut vi = Vec::new();
    field_bytes(1, name.as_bytes(), &mut vi);
    field_bytes(2, &ty, &mut vi);
    vi
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
    node_with(op, inputs, outputs, &[])
}

/// A NodeProto attribute (AttributeProto bytes); build with [`attr_int`],
/// [`attr_ints`], [`attr_float`] or [`attr_tensor`].
pub struct Attr(Vec<u8>);

// AttributeProto.type values.
const ATTR_FLOAT: u64 = 1;
const ATTR_INT: u64 = 2;
const ATTR_TENSOR: u64 = 4;
const ATTR_INTS: u64 = 7;

fn attr(name: &str, ty: u64, body: impl FnOnce(&mut Vec<u8>)) -> Attr {
    let mut a = Vec::new();
    field_bytes(1, name.as_bytes(), &mut a);
    body(&mut a);
    field_varint(20, ty, &mut a);
    Attr(a)
}

/// An INT attribute (negative values as 64-bit two's complement, as protobuf does).
pub fn attr_int(name: &str, v: i64) -> Attr {
    attr(name, ATTR_INT, |a| field_varint(3, v as u64, a))
}

/// An INTS attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> Attr {
    attr(name, ATTR_INTS, |a| {
        for x in v {
            field_varint(8, *x as u64, a);
        }
    })
}

/// A FLOAT attribute.
pub fn attr_float(name: &str, v: f32) -> Attr {
    attr(name, ATTR_FLOAT, |a| {
        varint((2 << 3) | 5, a); // wire type 5: fixed32
        a.extend_from_slice(&v.to_le_bytes());
    })
}

/// A TENSOR attribute holding a float tensor.
pub fn attr_tensor(name: &str, dims: &[i64], values: &[f32]) -> Attr {
    let t = float_tensor(dims, values);
    attr(name, ATTR_TENSOR, |a| field_bytes(5, &t, a))
}

/// TensorProto of FLOAT data: dims, data_type = 1, raw_data little-endian.
fn float_tensor(dims: &[i64], values: &[f32]) -> Vec<u8> {
    assert_eq!(
        dims.iter().product::<i64>(),
        values.len() as i64,
        "tensor dims {dims:?} do not hold {} values",
        values.len()
    );
    let mut t = Vec::new();
    for d in dims {
        field_varint(1, *d as u64, &mut t);
    }
    field_varint(2, 1, &mut t); // data_type FLOAT
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    field_bytes(9, &raw, &mut t);
    t
}

/// A NodeProto (op in the default ai.onnx domain) with attributes.
pub fn node_with(op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Attr]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        field_bytes(1, i.as_bytes(), &mut n);
    }
    for o in outputs {
        field_bytes(2, o.as_bytes(), &mut n);
    }
    field_bytes(
        3,
        format!("{op}_{}", outputs.first().unwrap_or(&"")).as_bytes(),
        &mut n,
    );
    field_bytes(4, op.as_bytes(), &mut n);
    for a in attrs {
        field_bytes(5, &a.0, &mut n);
    }
    n
}

/// A Constant node giving a float tensor.
pub fn constant(output: &str, dims: &[i64], values: &[f32]) -> Vec<u8> {
    node_with(
        "Constant",
        &[],
        &[output],
        &[attr_tensor("value", dims, values)],
    )
}

/// A model (ir_version 7, opset 13) of the given float inputs, nodes (from [`node_with`],
/// [`constant`]) and float outputs, in that declared order. Negative dims are symbolic.
pub fn graph_model(
    inputs: &[(&str, &[i64])],
    nodes: &[Vec<u8>],
    outputs: &[(&str, &[i64])],
) -> Vec<u8> {
    let mut graph = Vec::new();
    for n in nodes {
        field_bytes(1, n, &mut graph);
    }
    field_bytes(2, b"fixture", &mut graph);
    for (name, dims) in inputs {
        field_bytes(11, &value_info(name, dims), &mut graph);
    }
    for (name, dims) in outputs {
        field_bytes(12, &value_info(name, dims), &mut graph);
    }
    model_of(&graph)
}

fn model_of(graph: &[u8]) -> Vec<u8> {
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 13, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 7, &mut model); // ir_version
    field_bytes(2, b"gst-portrait-tests", &mut model);
    field_bytes(7, graph, &mut model);
    field_bytes(8, &opset, &mut model);
    model
}

/// A model with one input and outputs that are each an Identity of it, declared with
/// the given shapes (ONNX Runtime checks declared shapes only when it runs, so this
/// is a valid model of the requested *signature*).
pub fn identity_model(input: (&str, &[i64]), outputs: &[(&str, &[i64])]) -> Vec<u8> {
    let mut graph = Vec::new();
    for (name, _) in outputs {
        field_bytes(1, &node("Identity", &[input.0], &[name]), &mut graph);
    }
    field_bytes(2, b"fixture", &mut graph);
    field_bytes(11, &value_info(input.0, input.1), &mut graph);
    for (name, dims) in outputs {
        field_bytes(12, &value_info(name, dims), &mut graph);
    }
    model_of(&graph)
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Nodes computing a scalar `zero` (0.0) that make the run fail when the mean of
/// `measured` is over `threshold`: `reshaped` is reshaped to [1 + 6·(mean >
/// threshold), −1], which fails unless its element count is a multiple of 7 (choose a
/// tensor whose count is not), then summed and multiplied by 0. Adding `zero` to a
/// fixture's outputs ties them to it (a reshape straight back would be fused away by
/// ONNX Runtime's optimiser). Node names start with `prefix`.
pub fn fail_when_mean_over(
    measured: &str,
    threshold: f32,
    reshaped: &str,
    prefix: &str,
    zero: &str,
) -> Vec<Vec<u8>> {
    let n = |s: &str| format!("{prefix}{s}");
    let cast = |i: &str, o: &str, to: i64| node_with("Cast", &[i], &[o], &[attr_int("to", to)]);
    vec![
        constant(&n("threshold"), &[], &[threshold]),
        constant(&n("one"), &[1], &[1.0]),
        constant(&n("minus_one"), &[1], &[-1.0]),
        constant(&n("six"), &[], &[6.0]),
        constant(&n("zero_c"), &[], &[0.0]),
        node_with(
            "ReduceMean",
            &[measured],
            &[&n("mean")],
            &[attr_int("keepdims", 0)],
        ),
        node_with(
            "Greater",
            &[&n("mean"), &n("threshold")],
            &[&n("fail")],
            &[],
        ),
        cast(&n("fail"), &n("fail_f"), 1),
        node_with("Mul", &[&n("fail_f"), &n("six")], &[&n("k6")], &[]),
        node_with("Add", &[&n("one"), &n("k6")], &[&n("k")], &[]),
        node_with(
            "Concat",
            &[&n("k"), &n("minus_one")],
            &[&n("shape_f")],
            &[attr_int("axis", 0)],
        ),
        cast(&n("shape_f"), &n("shape"), 7),
        node_with("Reshape", &[reshaped, &n("shape")], &[&n("flat")], &[]),
        node_with(
            "ReduceSum",
            &[&n("flat")],
            &[&n("sum")],
            &[attr_int("keepdims", 0)],
        ),
        node_with("Mul", &[&n("sum"), &n("zero_c")], &[zero], &[]),
    ]
}
