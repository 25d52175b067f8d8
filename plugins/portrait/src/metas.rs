//! Helpers for reading metas off buffers in the elements.

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
