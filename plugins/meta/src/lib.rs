// SPDX-License-Identifier: MIT

//! Public metadata of gst-portrait, for applications and for the elements themselves.
//!
//! - [`FaceMeta`] is attached by `facedetect`, one per face, next to a standard
//!   `GstVideoRegionOfInterestMeta` of type "face" that carries the same box (its id is
//!   [`Face::roi_id`]).
//! - [`MotionMeta`] is attached by `motionextract`, one per face it follows: dense
//!   landmarks, head pose, expression controls, optionally LivePortrait keypoints.
//!
//! Coordinates are pixels of the buffer the meta is on; when `videoscale` (or anything
//! that uses the video scale transform) changes the frame size, the metas are rescaled
//! with it. Each meta is registered once per process, under fixed names, even when
//! several crates in one process link this code: registration looks the names up first.
//!
//! Apps that do not link Rust can read the same data through the ROI meta's "face"
//! parameter structure, or through [`Face::to_structure`] / [`Motion::to_structure`]
//! which the elements post in their element messages.

mod face;
mod motion;
pub use face::{Face, LANDMARK_NAMES};
pub use motion::{Expression, ImplicitKeypoints, Motion, Pose};

use gst::glib;

/// Data a meta carries: plain owned Rust values that follow a frame resize.
pub trait MetaData: Clone + Default + Send + Sync + 'static {
    /// Scales every pixel coordinate, as when the frame is resized by (sx, sy).
    fn scale(&mut self, sx: f32, sy: f32);
}

/// Defines a buffer meta type `$meta` carrying a `$data: MetaData`, registered under
/// `$api`/`$impl` with the tags of `GstVideoRegionOfInterestMeta` (so scaling elements
/// keep it and call its transform).
macro_rules! define_meta {
    ($(#[$doc:meta])* $meta:ident, $data:ty, $api:literal, $impl_name:literal, $getter:ident, $getter_mut:ident) => {
        $(#[$doc])*
        #[repr(C)]
        pub struct $meta {
            parent: gst::ffi::GstMeta,
            data: $data,
        }

        // Safety: the meta only holds plain owned Rust data.
        unsafe impl Send for $meta {}
        unsafe impl Sync for $meta {}

        impl $meta {
            /// Attaches a meta carrying `data` to `buffer`.
            pub fn add(
                buffer: &mut gst::BufferRef,
                data: $data,
            ) -> gst::MetaRefMut<'_, Self, gst::meta::Standalone> {
                use gst::prelude::*;
                unsafe {
                    // gst_buffer_add_meta() hands the params to init, which moves them out.
                    let mut params = std::mem::ManuallyDrop::new(data);
                    let meta = gst::ffi::gst_buffer_add_meta(
                        buffer.as_mut_ptr(),
                        Self::info(),
                        &mut *params as *mut $data as glib::ffi::gpointer,
                    ) as *mut $meta;
                    Self::from_mut_ptr(buffer, meta)
                }
            }

            pub fn $getter(&self) -> &$data {
                &self.data
            }

            pub fn $getter_mut(&mut self) -> &mut $data {
                &mut self.data
            }

            /// Copies of every such meta on `buffer`, in the order they were attached.
            pub fn all(buffer: &gst::BufferRef) -> Vec<$data> {
                buffer.iter_meta::<$meta>().map(|m| m.data.clone()).collect()
            }

            /// The registered API type.
            pub fn api_type() -> glib::Type {
                use glib::translate::*;
                static TYPE: std::sync::OnceLock<glib::Type> = std::sync::OnceLock::new();
                *TYPE.get_or_init(|| unsafe {
                    // Another copy of this crate in the process may have registered it.
                    let existing = glib::gobject_ffi::g_type_from_name(concat!($api, "\0").as_ptr() as *const _);
                    if existing != 0 {
                        return from_glib(existing);
                    }
                    let tags = [c"video".as_ptr(), c"orientation".as_ptr(), c"size".as_ptr(), std::ptr::null()];
                    from_glib(gst::ffi::gst_meta_api_type_register(
                        concat!($api, "\0").as_ptr() as *const _,
                        tags.as_ptr() as *mut *const _,
                    ))
                })
            }

            fn info() -> *const gst::ffi::GstMetaInfo {
                use glib::translate::*;
                struct Info(std::ptr::NonNull<gst::ffi::GstMetaInfo>);
                unsafe impl Send for Info {}
                unsafe impl Sync for Info {}
                static INFO: std::sync::OnceLock<Info> = std::sync::OnceLock::new();
                INFO.get_or_init(|| unsafe {
                    let name = concat!($impl_name, "\0").as_ptr() as *const _;
                    let existing = gst::ffi::gst_meta_get_info(name);
                    let info = if existing.is_null() {
                        gst::ffi::gst_meta_register(
                            Self::api_type().into_glib(),
                            name,
                            std::mem::size_of::<$meta>(),
                            Some(raw::init::<$data>),
                            Some(raw::free::<$data>),
                            Some(Self::transform),
                        )
                    } else {
                        existing
                    };
                    Info(std::ptr::NonNull::new(info as *mut _).expect(concat!($impl_name, " registration")))
                })
                .0
                .as_ptr()
            }

            unsafe extern "C" fn transform(
                dest: *mut gst::ffi::GstBuffer,
                meta: *mut gst::ffi::GstMeta,
                _buffer: *mut gst::ffi::GstBuffer,
                type_: glib::ffi::GQuark,
                data: glib::ffi::gpointer,
            ) -> glib::ffi::gboolean {
                use glib::translate::*;
                unsafe {
                    let meta = &*(meta as *const $meta);
                    match raw::transformed(&meta.data, type_, data) {
                        Some(d) => {
                            $meta::add(gst::BufferRef::from_mut_ptr(dest), d);
                            true.into_glib()
                        }
                        None => false.into_glib(),
                    }
                }
            }
        }

        impl std::ops::Deref for $meta {
            type Target = $data;
            fn deref(&self) -> &$data {
                &self.data
            }
        }

        unsafe impl gst::MetaAPI for $meta {
            type GstType = $meta;
            fn meta_api() -> glib::Type {
                $meta::api_type()
            }
        }

        impl std::fmt::Debug for $meta {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.data, f)
            }
        }
    };
}

/// Init/free/transform shared by every meta type.
mod raw {
    use super::MetaData;
    use gst::glib;
    use gst::glib::translate::*;
    use std::ptr;

    /// The `data` field sits right after the GstMeta header in every meta struct.
    #[repr(C)]
    struct Raw<T> {
        parent: gst::ffi::GstMeta,
        data: T,
    }

    pub(super) unsafe extern "C" fn init<T: MetaData>(
        meta: *mut gst::ffi::GstMeta,
        params: glib::ffi::gpointer,
        _buffer: *mut gst::ffi::GstBuffer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let meta = &mut *(meta as *mut Raw<T>);
            let data = if params.is_null() {
                T::default()
            } else {
                ptr::read(params as *const T)
            };
            ptr::write(&mut meta.data, data);
        }
        true.into_glib()
    }

    pub(super) unsafe extern "C" fn free<T: MetaData>(
        meta: *mut gst::ffi::GstMeta,
        _buffer: *mut gst::ffi::GstBuffer,
    ) {
        unsafe {
            let meta = &mut *(meta as *mut Raw<T>);
            ptr::drop_in_place(&mut meta.data);
        }
    }

    /// The data for the destination buffer of a copy or a scale; `None` for other
    /// transforms (crop, rotation...), where coordinates can't be kept true.
    pub(super) unsafe fn transformed<T: MetaData>(
        data: &T,
        type_: glib::ffi::GQuark,
        tdata: glib::ffi::gpointer,
    ) -> Option<T> {
        let mut d = data.clone();
        if type_ == unsafe { gst_video::ffi::gst_video_meta_transform_scale_get_quark() } {
            let t = unsafe { &*(tdata as *const gst_video::ffi::GstVideoMetaTransform) };
            let (iw, ih) = unsafe { ((*t.in_info).width, (*t.in_info).height) };
            let (ow, oh) = unsafe { ((*t.out_info).width, (*t.out_info).height) };
            if iw <= 0 || ih <= 0 {
                return None;
            }
            d.scale(ow as f32 / iw as f32, oh as f32 / ih as f32);
            Some(d)
        } else if type_ == glib::Quark::from_str("gst-copy").into_glib() {
            Some(d)
        } else {
            None
        }
    }
}

define_meta!(
    /// A face on a video frame (from `facedetect`). Deref to [`Face`] to read it.
    FaceMeta,
    Face,
    "GstPortraitFaceMetaAPI",
    "GstPortraitFaceMeta",
    face,
    face_mut
);

define_meta!(
    /// The motion of one face on a video frame (from `motionextract`). Deref to
    /// [`Motion`] to read it.
    MotionMeta,
    Motion,
    "GstPortraitMotionMetaAPI",
    "GstPortraitMotionMeta",
    motion,
    motion_mut
);

impl FaceMeta {
    /// All faces on `buffer`, in the order they were attached.
    pub fn faces(buffer: &gst::BufferRef) -> Vec<Face> {
        Self::all(buffer)
    }
}

/// Registers every meta API and implementation now (normally done on first use).
pub fn register() {
    let _ = FaceMeta::info();
    let _ = MotionMeta::info();
}
