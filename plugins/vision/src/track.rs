// SPDX-License-Identifier: MIT

//! Stable face ids across frames: each new box takes the id of the previous frame's box
//! it overlaps most (IoU above a threshold, greedy by overlap), or a fresh id.

use crate::detect::iou;

#[derive(Debug, Default)]
pub struct IdTracker {
    prev: Vec<([f32; 4], u64)>,
    next_id: u64,
    pairs: Vec<(f32, usize, usize)>,
    prev_used: Vec<bool>,
}

impl IdTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn reset(&mut self) {
        self.prev.clear();
    }

    /// Assigns ids to `boxes` (x0,y0,x1,y1), writing them into `ids`.
    pub fn assign(&mut self, boxes: &[[f32; 4]], ids: &mut Vec<u64>, min_iou: f32) {
        ids.clear();
        ids.resize(boxes.len(), 0);
        self.pairs.clear();
        for (i, b) in boxes.iter().enumerate() {
            for (j, (p, _)) in self.prev.iter().enumerate() {
                let v = iou(b, p);
                if v >= min_iou {
                    self.pairs.push((v, i, j));
                }
            }
        }
        self.pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.prev_used.clear();
        self.prev_used.resize(self.prev.len(), false);
        for &(_, i, j) in &self.pairs {
            if ids[i] == 0 && !self.prev_used[j] {
                ids[i] = self.prev[j].1;
                self.prev_used[j] = true;
            }
        }
        for id in ids.iter_mut().filter(|id| **id == 0) {
            self.next_id += 1;
            *id = self.next_id;
        }
        self.prev.clear();
        self.prev
            .extend(boxes.iter().copied().zip(ids.iter().copied()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_moving_boxes() {
        let mut t = IdTracker::new();
        let mut ids = vec![];
        t.assign(&[[0., 0., 10., 10.], [50., 50., 60., 60.]], &mut ids, 0.3);
        assert_eq!(ids, vec![1, 2]);
        // Swapped order and moved a little: ids follow the boxes.
        t.assign(&[[51., 50., 61., 60.], [1., 0., 11., 10.]], &mut ids, 0.3);
        assert_eq!(ids, vec![2, 1]);
        // One face gone, a new one appears.
        t.assign(
            &[[100., 100., 120., 120.], [1., 0., 11., 10.]],
            &mut ids,
            0.3,
        );
        assert_eq!(ids, vec![3, 1]);
    }
}
