// SPDX-License-Identifier: MIT

//! Glue between GStreamer video frames and `portrait-vision` frame views.

use gst::subclass::prelude::ObjectSubclassExt;
use gst_video::{VideoFormat, VideoFrameExt};
use portrait_vision::{FrameMut, FrameRef, PixelFormat, Plane};

/// Formats every element accepts without a `videoconvert` in front.
pub const FORMATS: [VideoFormat; 8] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Bgrx,
    VideoFormat::Rgbx,
    VideoFormat::I420,
    VideoFormat::Nv12,
];

pub fn pixel_format(f: VideoFormat) -> Option<PixelFormat> {
    Some(match f {
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Bgr => PixelFormat::Bgr,
        VideoFormat::Rgba => PixelFormat::Rgba,
        VideoFormat::Bgra => PixelFormat::Bgra,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        VideoFormat::Rgbx => PixelFormat::Rgbx,
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        _ => return None,
    })
}

/// Raw-video caps in [`FORMATS`], any size and rate.
pub fn raw_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS)
        .build()
}

/// Always-present "sink" and "src" templates with [`raw_caps`], for in-place filters.
pub fn filter_pad_templates() -> Vec<gst::PadTemplate> {
    let caps = raw_caps();
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, dir)| {
        gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps)
            .expect("static pad template")
    })
    .collect()
}

/// A read-only view of a mapped frame.
pub fn frame_ref<'a>(
    frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
) -> Result<FrameRef<'a>, String> {
    let fmt = pixel_format(frame.format())
        .ok_or_else(|| format!("unsupported format {:?}", frame.format()))?;
    let strides = frame.plane_stride();
    let mut planes = [Plane {
        data: &[],
        stride: 0,
    }; 3];
    for i in 0..fmt.n_planes() {
        let stride = usize::try_from(strides[i]).map_err(|_| "negative stride".to_string())?;
        let data = frame.plane_data(i as u32).map_err(|e| e.to_string())?;
        planes[i] = Plane { data, stride };
    }
    FrameRef::new(fmt, frame.width() as usize, frame.height() as usize, planes).map_err(|e| e.0)
}

/// A writable view of a mapped frame.
pub fn frame_mut<'a>(
    frame: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
) -> Result<FrameMut<'a>, String> {
    let fmt = pixel_format(frame.format())
        .ok_or_else(|| format!("unsupported format {:?}", frame.format()))?;
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut strides = [0usize; 3];
    for (d, s) in strides.iter_mut().zip(frame.plane_stride()) {
        *d = usize::try_from(*s).map_err(|_| "negative stride".to_string())?;
    }
    let mut planes: [(&mut [u8], usize); 3] = [(&mut [], 0), (&mut [], 0), (&mut [], 0)];
    // Split the borrow: each plane is its own slice of the mapped memory.
    let datas = frame.planes_data_mut();
    for (i, d) in datas.into_iter().enumerate().take(fmt.n_planes()) {
        planes[i] = (d, strides[i]);
    }
    FrameMut::new(fmt, w, h, planes).map_err(|e| e.0)
}

/// For an element that writes each output frame whole: when downstream offers no
/// buffer pool, adds a video pool for the query's caps, so that the base class
/// recycles a few frames instead of allocating a fresh one per frame (cold memory
/// the render then pays for in cache misses).
pub fn offer_pool_if_none(query: &mut gst::query::Allocation) {
    if query.allocation_pools().next().is_some() {
        return;
    }
    let (Some(caps), _) = query.get_owned() else {
        return;
    };
    if let Ok(info) = gst_video::VideoInfo::from_caps(&caps) {
        let pool = gst_video::VideoBufferPool::new();
        // Two ready at the start; no maximum, so a slow consumer never blocks the render.
        query.add_allocation_pool(Some(&pool), info.size() as u32, 2, 0);
    }
}

/// Maps `buf` read-only (the pixels stay shared with upstream, never copied); a failure
/// is `imp`'s element error.
pub fn map_readable<'a, T: gst::subclass::prelude::ElementImpl>(
    imp: &T,
    buf: &'a gst::BufferRef,
    info: &'a gst_video::VideoInfo,
) -> Result<gst_video::VideoFrameRef<&'a gst::BufferRef>, gst::FlowError> {
    gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
        gst::element_imp_error!(
            imp,
            gst::StreamError::Format,
            ["could not map the video frame"]
        );
        gst::FlowError::Error
    })
}

/// [`frame_ref`] of a mapped frame; a failure is `imp`'s element error.
pub fn view<'a, T: gst::subclass::prelude::ElementImpl>(
    imp: &T,
    frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
) -> Result<FrameRef<'a>, gst::FlowError> {
    frame_ref(frame).map_err(|e| {
        gst::element_imp_error!(imp, gst::StreamError::Format, ["bad video frame: {}", e]);
        gst::FlowError::Error
    })
}
