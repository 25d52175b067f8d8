//! Writes tiny ONNX fixture models (hand-encoded protobuf) for tests that need a valid
//! model of a given I/O signature: the ONNX protobuf schema is small enough that a
//! dozen lines of varint/length-delimited encoding cover Identity/Concat graphs.

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
    let mut n = Vec::new();
    for i in inputs {
        field_bytes(1, i.as_bytes(), &mut n);
    }
    for o in outputs {
        field_bytes(2, o.as_bytes(), &mut n);
    }
    field_bytes(4, op.as_bytes(), &mut n);
    n
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
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 13, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 7, &mut model); // ir_version
    field_bytes(2, b"gst-portrait-tests", &mut model);
    field_bytes(7, &graph, &mut model);
    field_bytes(8, &opset, &mut model);
    model
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
