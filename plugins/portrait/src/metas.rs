//! Helpers shared by the elements: reading metas off buffers, error messages.

/// Copies the data of every `M` meta on `buf` into `out`, reusing the allocations of
/// the previous frame's copies (`clone_from`).
pub fn copy_metas<M: gst::MetaAPI, T: Clone>(
    buf: &gst::BufferRef,
    out: &mut Vec<T>,
    get: impl Fn(&M) -> &T,
) {
    let n = buf.iter_meta::<M>().count();
    out.truncate(n);
    for (i, m) in buf.iter_meta::<M>().enumerate() {
        match out.get_mut(i) {
            Some(v) => v.clone_from(get(&m)),
            None => out.push(get(&m).clone()),
        }
    }
}

/// The element error for a failed model load or run: `{what}: {error}`, with the
/// resource error kind that matches (missing file, unreadable model, settings).
pub fn infer_error(what: &str, e: portrait_infer::InferError) -> gst::ErrorMessage {
    use portrait_infer::InferError::*;
    let kind = match e {
        ModelMissing(_) => gst::ResourceError::NotFound,
        ModelInvalid(..) => gst::ResourceError::OpenRead,
        Runtime(_) | Device(_) => gst::ResourceError::Settings,
        Run(_) => gst::ResourceError::Failed,
    };
    gst::error_msg!(kind, ("{}: {}", what, e))
}

/// The meta form of expression controls.
pub fn expression(c: &portrait_vision::expression::Controls) -> gst_portrait_meta::Expression {
    gst_portrait_meta::Expression {
        mouth_open: c.mouth_open,
        mouth_width: c.mouth_width,
        eye_blink_left: c.eye_blink_left,
        eye_blink_right: c.eye_blink_right,
        brow_raise: c.brow_raise,
        lip_open_ratio: c.lip_open_ratio,
        eye_open_ratio_left: c.eye_open_ratio_left,
        eye_open_ratio_right: c.eye_open_ratio_right,
    }
}

/// MediaPipe's canonical face mesh from the models directory, or `element`'s error.
pub fn canonical_mesh(
    element: &str,
) -> Result<portrait_vision::mesh::CanonicalMesh, gst::ErrorMessage> {
    let path = portrait_infer::models_dir().join(crate::CANONICAL_MESH);
    std::fs::read(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|b| {
            portrait_vision::mesh::CanonicalMesh::parse(&b)
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                (
                    "{}: canonical face mesh unavailable ({}); run scripts/setup.sh",
                    element,
                    e
                )
            )
        })
}
