// SPDX-License-Identifier: MIT

//! MediaPipe's canonical face mesh (`geometry_pipeline_metadata_landmarks.binarypb`,
//! fetched from the npm `@mediapipe/face_mesh` package): 468 vertices in centimetres
//! (x right, y up, z towards the viewer), 898 triangles, and the weighted landmarks
//! MediaPipe's own Procrustes uses. Decoded with a minimal protobuf reader.
//!
//! Schema (field numbers as found in the file): GeometryPipelineMetadata {
//! 1: Mesh3d canonical_mesh; 2: repeated WeightedLandmarkRef procrustes_landmark_basis;
//! 3: input_source }, Mesh3d { 1: vertex_type, 2: primitive_type, 3: repeated float
//! vertex_buffer (x, y, z, u, v per vertex), 4: repeated uint32 index_buffer },
//! WeightedLandmarkRef { 1: uint32 landmark_id, 2: float weight }.

#[derive(Clone, Debug, Default)]
pub struct CanonicalMesh {
    pub vertices: Vec<[f32; 3]>,
    pub uvs: Vec<[f32; 2]>,
    pub triangles: Vec<[u32; 3]>,
    /// (landmark index, weight) used to fit the pose.
    pub basis: Vec<(u32, f32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshError(pub String);

impl std::fmt::Display for MeshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for MeshError {}

enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, MeshError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let c = *self
                .b
                .get(self.i)
                .ok_or_else(|| MeshError("truncated varint".into()))?;
            self.i += 1;
            v |= ((c & 0x7f) as u64) << shift;
            if c < 0x80 {
                return Ok(v);
            }
        }
        Err(MeshError("varint too long".into()))
    }

    fn next(&mut self) -> Result<Option<(u32, Value<'a>)>, MeshError> {
        if self.i >= self.b.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (field, wire) = ((key >> 3) as u32, key & 7);
        let take = |r: &mut Self, n: usize| -> Result<&'a [u8], MeshError> {
            let s =
                r.b.get(r.i..r.i + n)
                    .ok_or_else(|| MeshError("truncated field".into()))?;
            r.i += n;
            Ok(s)
        };
        let v = match wire {
            0 => Value::Varint(self.varint()?),
            1 => {
                take(self, 8)?;
                return self.next();
            }
            2 => {
                let n = self.varint()? as usize;
                Value::Bytes(take(self, n)?)
            }
            5 => {
                let s = take(self, 4)?;
                Value::Fixed32(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            }
            w => return Err(MeshError(format!("unsupported wire type {w}"))),
        };
        Ok(Some((field, v)))
    }
}

impl CanonicalMesh {
    pub fn parse(bytes: &[u8]) -> Result<Self, MeshError> {
        let mut mesh = CanonicalMesh::default();
        let mut floats = Vec::new();
        let mut indices = Vec::new();
        let mut r = Reader { b: bytes, i: 0 };
        while let Some((field, v)) = r.next()? {
            match (field, v) {
                (1, Value::Bytes(m)) => {
                    let mut mr = Reader { b: m, i: 0 };
                    while let Some((f, v)) = mr.next()? {
                        match (f, v) {
                            (3, Value::Fixed32(x)) => floats.push(f32::from_bits(x)),
                            (3, Value::Bytes(p)) => floats.extend(
                                p.chunks_exact(4)
                                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                            ),
                            (4, Value::Varint(x)) => indices.push(x as u32),
                            (4, Value::Bytes(p)) => {
                                let mut pr = Reader { b: p, i: 0 };
                                while pr.i < p.len() {
                                    indices.push(pr.varint()? as u32);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                (2, Value::Bytes(w)) => {
                    let mut wr = Reader { b: w, i: 0 };
                    let (mut id, mut weight) = (None, 0.0f32);
                    while let Some((f, v)) = wr.next()? {
                        match (f, v) {
                            (1, Value::Varint(x)) => id = Some(x as u32),
                            (2, Value::Fixed32(x)) => weight = f32::from_bits(x),
                            _ => {}
                        }
                    }
                    // proto3 omits zero: a missing id is landmark 0.
                    mesh.basis.push((id.unwrap_or(0), weight));
                }
                _ => {}
            }
        }
        if floats.len() != 468 * 5 {
            return Err(MeshError(format!(
                "expected 468×5 vertex floats, found {}",
                floats.len()
            )));
        }
        if indices.is_empty() || indices.len() % 3 != 0 || indices.iter().any(|&i| i >= 468) {
            return Err(MeshError(format!(
                "bad index buffer of {} entries",
                indices.len()
            )));
        }
        mesh.vertices = floats.chunks_exact(5).map(|v| [v[0], v[1], v[2]]).collect();
        mesh.uvs = floats.chunks_exact(5).map(|v| [v[3], v[4]]).collect();
        mesh.triangles = indices
            .chunks_exact(3)
            .map(|t| [t[0], t[1], t[2]])
            .collect();
        if mesh.basis.iter().any(|(i, _)| *i >= 468) || mesh.basis.is_empty() {
            return Err(MeshError("bad Procrustes landmark basis".into()));
        }
        Ok(mesh)
    }

    /// Per-landmark weights for the pose fit (0 for landmarks not in the basis).
    pub fn weights(&self) -> Vec<f32> {
        let mut w = vec![0.0; self.vertices.len()];
        for &(i, wt) in &self.basis {
            w[i as usize] = wt;
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: u32, wire: u32, out: &mut Vec<u8>) {
        out.push(((field << 3) | wire) as u8);
    }

    #[test]
    fn parses_a_small_hand_encoded_mesh() {
        // 468 vertices, unpacked floats; 1 triangle; 2 basis entries.
        let mut mesh = Vec::new();
        for i in 0..468 * 5 {
            key(3, 5, &mut mesh);
            mesh.extend_from_slice(&(i as f32).to_le_bytes());
        }
        for i in [0u8, 1, 2] {
            key(4, 0, &mut mesh);
            mesh.push(i);
        }
        let mut top = Vec::new();
        key(1, 2, &mut top);
        // length as varint
        let mut n = mesh.len();
        while n >= 0x80 {
            top.push((n as u8) | 0x80);
            n >>= 7;
        }
        top.push(n as u8);
        top.extend_from_slice(&mesh);
        for (id, w) in [(4u8, 0.5f32), (0, 0.25)] {
            let mut e = Vec::new();
            if id != 0 {
                key(1, 0, &mut e);
                e.push(id);
            }
            key(2, 5, &mut e);
            e.extend_from_slice(&w.to_le_bytes());
            key(2, 2, &mut top);
            top.push(e.len() as u8);
            top.extend_from_slice(&e);
        }
        let m = CanonicalMesh::parse(&top).unwrap();
        assert_eq!(m.vertices.len(), 468);
        assert_eq!(m.vertices[1], [5.0, 6.0, 7.0]);
        assert_eq!(m.uvs[1], [8.0, 9.0]);
        assert_eq!(m.triangles, vec![[0, 1, 2]]);
        assert_eq!(m.basis, vec![(4, 0.5), (0, 0.25)]);
        assert_eq!(m.weights()[4], 0.5);
        assert!(CanonicalMesh::parse(&top[..top.len() / 2]).is_err());
    }
}
