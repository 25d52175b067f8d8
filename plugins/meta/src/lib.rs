//! Public metadata of gst-portrait, for applications and for the elements themselves.
//!
//! [`FaceMeta`] is attached by `facedetect`, one per face, next to a standard
//! `GstVideoRegionOfInterestMeta` of type "face" that carries the same box (its id is
//! [`Face::roi_id`]). Coordinates are pixels of the buffer the meta is on; when
//! `videoscale` (or anything that uses the video scale transform) changes the frame
//! size, the meta is rescaled with it.
//!
//! The meta is registered once per process, under fixed names, even when several
//! crates in one process link this code: registration looks the names up first.
//!
//! Apps that do not link Rust can read the same data through the ROI meta's "face"
//! parameter structure, or through [`Face::to_structure`] which `facedetect` posts in
//! its element messages.

use std::fmt;

mod face;
pub use face::{Face, LANDMARK_NAMES};

/// A face on a video frame. Deref to [`Face`] to read it.
#[repr(transparent)]
pub struct FaceMeta(imp::FaceMeta);

// Safety: the meta only holds plain owned Rust data.
unsafe impl Send for FaceMeta {}
unsafe impl Sync for FaceMeta {}

impl FaceMeta {
    /// Attaches a face meta carrying `face` to `buffer`.
    pub fn add(
        buffer: &mut gst::BufferRef,
        face: Face,
    ) -> gst::MetaRefMut<'_, Self, gst::meta::Standalone> {
        use gst::prelude::*;
        unsafe {
            // gst_buffer_add_meta() hands the params to init, which moves the face out.
            let mut params = std::mem::ManuallyDrop::new(face);
            let meta = gst::ffi::gst_buffer_add_meta(
                buffer.as_mut_ptr(),
                imp::face_meta_get_info(),
                &mut *params as *mut Face as glib::ffi::gpointer,
            ) as *mut imp::FaceMeta;
            Self::from_mut_ptr(buffer, meta)
        }
    }

    pub fn face(&self) -> &Face {
        &self.0.face
    }

    pub fn face_mut(&mut self) -> &mut Face {
        &mut self.0.face
    }

    /// All faces on `buffer`, in the order they were attached.
    pub fn faces(buffer: &gst::BufferRef) -> Vec<Face> {
        buffer
            .iter_meta::<FaceMeta>()
            .map(|m| m.face().clone())
            .collect()
    }

    /// The registered API type ("GstPortraitFaceMetaAPI").
    pub fn api_type() -> glib::Type {
        imp::face_meta_api_get_type()
    }
}

impl std::ops::Deref for FaceMeta {
    type Target = Face;
    fn deref(&self) -> &Face {
        &self.0.face
    }
}

unsafe impl gst::MetaAPI for FaceMeta {
    type GstType = imp::FaceMeta;
    fn meta_api() -> glib::Type {
        imp::face_meta_api_get_type()
    }
}

impl fmt::Debug for FaceMeta {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Debug::fmt(&self.0.face, f)
    }
}

/// Registers the meta API and implementation now (normally done on first use).
pub fn register() {
    let _ = imp::face_meta_get_info();
}

use gst::glib;

mod imp {
    use super::Face;
    use gst::glib;
    use gst::glib::translate::*;
    use std::ptr;
    use std::sync::OnceLock;

    const API_NAME: &std::ffi::CStr = c"GstPortraitFaceMetaAPI";
    const IMPL_NAME: &std::ffi::CStr = c"GstPortraitFaceMeta";

    /// The C layout stored inside buffers.
    #[repr(C)]
    pub struct FaceMeta {
        parent: gst::ffi::GstMeta,
        pub(super) face: Face,
    }

    pub(super) fn face_meta_api_get_type() -> glib::Type {
        static TYPE: OnceLock<glib::Type> = OnceLock::new();
        *TYPE.get_or_init(|| unsafe {
            // Another copy of this crate in the process may have registered it already.
            let existing = glib::gobject_ffi::g_type_from_name(API_NAME.as_ptr());
            if existing != 0 {
                return from_glib(existing);
            }
            // Same tags as GstVideoRegionOfInterestMeta: videoscale/videoflip-style
            // elements then keep the meta and call our transform.
            let tags = [
                c"video".as_ptr(),
                c"orientation".as_ptr(),
                c"size".as_ptr(),
                ptr::null(),
            ];
            from_glib(gst::ffi::gst_meta_api_type_register(
                API_NAME.as_ptr(),
                tags.as_ptr() as *mut *const _,
            ))
        })
    }

    unsafe extern "C" fn face_meta_init(
        meta: *mut gst::ffi::GstMeta,
        params: glib::ffi::gpointer,
        _buffer: *mut gst::ffi::GstBuffer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let meta = &mut *(meta as *mut FaceMeta);
            let face = if params.is_null() {
                Face::default()
            } else {
                ptr::read(params as *const Face)
            };
            ptr::write(&mut meta.face, face);
        }
        true.into_glib()
    }

    unsafe extern "C" fn face_meta_free(
        meta: *mut gst::ffi::GstMeta,
        _buffer: *mut gst::ffi::GstBuffer,
    ) {
        unsafe {
            let meta = &mut *(meta as *mut FaceMeta);
            ptr::drop_in_place(&mut meta.face);
        }
    }

    unsafe extern "C" fn face_meta_transform(
        dest: *mut gst::ffi::GstBuffer,
        meta: *mut gst::ffi::GstMeta,
        _buffer: *mut gst::ffi::GstBuffer,
        type_: glib::ffi::GQuark,
        data: glib::ffi::gpointer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let meta = &*(meta as *const FaceMeta);
            let mut face = meta.face.clone();
            let copy: glib::Quark = glib::Quark::from_str("gst-copy");
            if type_ == gst_video::ffi::gst_video_meta_transform_scale_get_quark() {
                let t = &*(data as *const gst_video::ffi::GstVideoMetaTransform);
                let (iw, ih) = ((*t.in_info).width, (*t.in_info).height);
                let (ow, oh) = ((*t.out_info).width, (*t.out_info).height);
                if iw <= 0 || ih <= 0 {
                    return false.into_glib();
                }
                face.scale(ow as f32 / iw as f32, oh as f32 / ih as f32);
            } else if type_ != copy.into_glib() {
                // Unknown transform (crop, rotation...): we can't keep coordinates true.
                return false.into_glib();
            }
            super::FaceMeta::add(gst::BufferRef::from_mut_ptr(dest), face);
        }
        true.into_glib()
    }

    pub(super) fn face_meta_get_info() -> *const gst::ffi::GstMetaInfo {
        struct Info(ptr::NonNull<gst::ffi::GstMetaInfo>);
        unsafe impl Send for Info {}
        unsafe impl Sync for Info {}
        static INFO: OnceLock<Info> = OnceLock::new();
        INFO.get_or_init(|| unsafe {
            let existing = gst::ffi::gst_meta_get_info(IMPL_NAME.as_ptr());
            let info = if existing.is_null() {
                gst::ffi::gst_meta_register(
                    face_meta_api_get_type().into_glib(),
                    IMPL_NAME.as_ptr(),
                    std::mem::size_of::<FaceMeta>(),
                    Some(face_meta_init),
                    Some(face_meta_free),
                    Some(face_meta_transform),
                )
            } else {
                existing
            };
            Info(ptr::NonNull::new(info as *mut _).expect("GstPortraitFaceMeta registration"))
        })
        .0
        .as_ptr()
    }
}
