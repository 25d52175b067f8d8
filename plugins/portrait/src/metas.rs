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
