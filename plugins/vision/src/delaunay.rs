// SPDX-License-Identifier: MIT

//! Delaunay triangulation of a point layout (Bowyer–Watson with exact integer
//! predicates), for the mesh warp: the portrait's landmarks and border points are
//! triangulated once, and the same triangles are then warped frame after frame.

/// Marks the vertex "at infinity" of a ghost (hull) triangle.
const GHOST: u32 = u32::MAX;

/// Delaunay triangulation of `points` (Bowyer–Watson with exact integer predicates).
///
/// Returns triangles as indices into `points`, each with positive signed area
/// `(b − a) × (c − a) > 0` in the (x, y) coordinates given (counter-clockwise with
/// y up; clockwise on screen with y down). Deterministic. Non-finite points and
/// duplicates (after quantisation to about 2⁻²⁸ of the bounding box; the first
/// occurrence is kept) are skipped; collinear sets give no triangles; collinear points on the
/// hull are kept as vertices, so an n×n grid gives 2·(n−1)² triangles.
pub fn delaunay(points: &[[f32; 2]]) -> Vec<[u32; 3]> {
    let finite: Vec<usize> = (0..points.len())
        .filter(|&i| points[i][0].is_finite() && points[i][1].is_finite())
        .collect();
    if finite.len() < 3 {
        return Vec::new();
    }
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for &i in &finite {
        for c in 0..2 {
            let v = points[i][c] as f64;
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    }
    let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    if !(extent > 0.0 && extent.is_finite()) {
        return Vec::new();
    }
    // Quantise to a power-of-two grid of at most 2^28 steps over the bounding box (exact
    // for f32 inputs up to that resolution, so collinear stays collinear): the
    // predicates are then exact in i64 (orientation) and i128 (in-circle).
    let mut scale = 1.0f64;
    while extent * scale * 2.0 <= (1u64 << 28) as f64 {
        scale *= 2.0;
    }
    while extent * scale > (1u64 << 28) as f64 {
        scale *= 0.5;
    }
    let q: Vec<[i64; 2]> = finite
        .iter()
        .map(|&i| {
            let p = points[i];
            [
                ((p[0] as f64 - lo[0]) * scale).round() as i64,
                ((p[1] as f64 - lo[1]) * scale).round() as i64,
            ]
        })
        .collect();
    // Drop duplicates, keeping the first occurrence, in input order.
    let mut order: Vec<u32> = (0..q.len() as u32).collect();
    order.sort_unstable_by_key(|&k| (q[k as usize], k));
    let mut keep = vec![false; q.len()];
    for (j, &k) in order.iter().enumerate() {
        keep[k as usize] = j == 0 || q[order[j - 1] as usize] != q[k as usize];
    }
    let kept: Vec<usize> = (0..q.len()).filter(|&k| keep[k]).collect();
    let pts: Vec<[i64; 2]> = kept.iter().map(|&k| q[k]).collect();
    let orig: Vec<u32> = kept.iter().map(|&k| finite[k] as u32).collect();
    if pts.len() < 3 {
        return Vec::new();
    }
    // Seed with the first two points and the first point not collinear with them.
    let Some(c) = (2..pts.len()).find(|&k| orient(pts[0], pts[1], pts[k]) != 0) else {
        return Vec::new();
    };
    let mut dt = Dt::new(pts, 0, 1, c as u32);
    for k in 2..dt.p.len() as u32 {
        if k != c as u32 {
            dt.insert(k);
        }
    }
    dt.tri
        .iter()
        .zip(&dt.alive)
        .filter(|(t, alive)| **alive && t[2] != GHOST)
        .map(|(t, _)| t.map(|v| orig[v as usize]))
        .filter(|t| {
            // Where the grid rounded, a sliver may be flat in the original coordinates.
            let [a, b, c] = t.map(|i| points[i as usize].map(|v| v as f64));
            (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) > 0.0
        })
        .collect()
}

#[inline]
pub(crate) fn orient(a: [i64; 2], b: [i64; 2], c: [i64; 2]) -> i64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// > 0 when `d` is strictly inside the circle through a, b, c (with orient(a, b, c) > 0).
#[inline]
fn incircle(a: [i64; 2], b: [i64; 2], c: [i64; 2], d: [i64; 2]) -> i128 {
    let f = |p: [i64; 2]| ((p[0] - d[0]) as i128, (p[1] - d[1]) as i128);
    let ((adx, ady), (bdx, bdy), (cdx, cdy)) = (f(a), f(b), f(c));
    (adx * adx + ady * ady) * (bdx * cdy - cdx * bdy)
        + (bdx * bdx + bdy * bdy) * (cdx * ady - adx * cdy)
        + (cdx * cdx + cdy * cdy) * (adx * bdy - bdx * ady)
}

/// Triangulation under construction. Real triangles have orient > 0; a ghost triangle
/// `[u, v, GHOST]` stands for the outside beyond hull edge u→v (outside to its left).
/// `nbr[t][k]` is the triangle across the edge opposite vertex k.
struct Dt {
    p: Vec<[i64; 2]>,
    tri: Vec<[u32; 3]>,
    nbr: Vec<[u32; 3]>,
    alive: Vec<bool>,
    mark: Vec<u32>,
    free: Vec<u32>,
    stamp: u32,
    last: u32,
    stack: Vec<u32>,
    cavity: Vec<u32>,
    boundary: Vec<(u32, u32, u32)>,
    fresh: Vec<u32>,
    start: Vec<u32>,
}

impl Dt {
    fn new(p: Vec<[i64; 2]>, a: u32, b: u32, c: u32) -> Self {
        let n = p.len();
        let (b, c) = if orient(p[a as usize], p[b as usize], p[c as usize]) > 0 {
            (b, c)
        } else {
            (c, b)
        };
        let mut dt = Dt {
            p,
            tri: Vec::with_capacity(4 * n),
            nbr: Vec::with_capacity(4 * n),
            alive: Vec::with_capacity(4 * n),
            mark: Vec::with_capacity(4 * n),
            free: Vec::new(),
            stamp: 0,
            last: 0,
            stack: Vec::new(),
            cavity: Vec::new(),
            boundary: Vec::new(),
            fresh: Vec::new(),
            start: vec![0; n + 1],
        };
        let ts = [[a, b, c], [b, a, GHOST], [c, b, GHOST], [a, c, GHOST]];
        for t in ts {
            dt.alloc(t);
        }
        // Link every pair of triangles sharing an edge (4 triangles: trivial).
        for t in 0..4u32 {
            for k in 0..3 {
                let (u, v) = dt.edge(t, k);
                for o in 0..4u32 {
                    if o != t && dt.find_edge(o, v, u).is_some() {
                        dt.nbr[t as usize][k] = o;
                    }
                }
            }
        }
        dt
    }

    fn alloc(&mut self, t: [u32; 3]) -> u32 {
        if let Some(i) = self.free.pop() {
            let iu = i as usize;
            self.tri[iu] = t;
            self.nbr[iu] = [GHOST; 3];
            self.alive[iu] = true;
            i
        } else {
            self.tri.push(t);
            self.nbr.push([GHOST; 3]);
            self.alive.push(true);
            self.mark.push(0);
            (self.tri.len() - 1) as u32
        }
    }

    #[inline]
    fn edge(&self, t: u32, k: usize) -> (u32, u32) {
        let v = self.tri[t as usize];
        (v[(k + 1) % 3], v[(k + 2) % 3])
    }

    fn find_edge(&self, t: u32, u: u32, v: u32) -> Option<usize> {
        (0..3).find(|&k| self.edge(t, k) == (u, v))
    }

    fn set_nbr(&mut self, t: u32, u: u32, v: u32, n: u32) {
        if let Some(k) = self.find_edge(t, u, v) {
            self.nbr[t as usize][k] = n;
        } else {
            debug_assert!(false, "edge ({u}, {v}) not in triangle {t}");
        }
    }

    #[inline]
    fn pt(&self, v: u32) -> [i64; 2] {
        self.p[v as usize]
    }

    /// Whether point `q` lies strictly inside the circumcircle of `t` (for a ghost:
    /// strictly outside its hull edge, or on the open edge itself).
    fn conflict(&self, t: u32, q: u32) -> bool {
        let [a, b, c] = self.tri[t as usize];
        let pq = self.pt(q);
        if c == GHOST {
            let (pa, pb) = (self.pt(a), self.pt(b));
            let o = orient(pa, pb, pq);
            o > 0 || (o == 0 && strictly_between(pa, pb, pq))
        } else {
            incircle(self.pt(a), self.pt(b), self.pt(c), pq) > 0
        }
    }

    /// A triangle in conflict with `q`: a visibility walk from the last new triangle,
    /// with a linear scan as a fallback that exact predicates should never need.
    fn locate(&self, q: u32) -> Option<u32> {
        let pq = self.pt(q);
        let mut t = self.last;
        if self.tri[t as usize][2] == GHOST {
            t = self.nbr[t as usize][2];
        }
        for _ in 0..self.tri.len() + 3 {
            let [a, b, c] = self.tri[t as usize];
            if c == GHOST {
                break;
            }
            let (pa, pb, pc) = (self.pt(a), self.pt(b), self.pt(c));
            if orient(pb, pc, pq) < 0 {
                t = self.nbr[t as usize][0];
            } else if orient(pc, pa, pq) < 0 {
                t = self.nbr[t as usize][1];
            } else if orient(pa, pb, pq) < 0 {
                t = self.nbr[t as usize][2];
            } else {
                break;
            }
        }
        if self.alive[t as usize] && self.conflict(t, q) {
            return Some(t);
        }
        (0..self.tri.len() as u32).find(|&t| self.alive[t as usize] && self.conflict(t, q))
    }

    fn insert(&mut self, q: u32) {
        let Some(t0) = self.locate(q) else {
            return;
        };
        self.stamp += 1;
        let stamp = self.stamp;
        self.stack.clear();
        self.cavity.clear();
        self.boundary.clear();
        self.mark[t0 as usize] = stamp;
        self.stack.push(t0);
        self.cavity.push(t0);
        while let Some(s) = self.stack.pop() {
            for k in 0..3 {
                let n = self.nbr[s as usize][k];
                if self.mark[n as usize] == stamp {
                    continue;
                }
                if self.conflict(n, q) {
                    self.mark[n as usize] = stamp;
                    self.stack.push(n);
                    self.cavity.push(n);
                } else {
                    let (u, v) = self.edge(s, k);
                    self.boundary.push((u, v, n));
                }
            }
        }
        for i in 0..self.cavity.len() {
            let t = self.cavity[i];
            self.alive[t as usize] = false;
            self.free.push(t);
        }
        let n_pts = self.p.len();
        let slot = |v: u32| if v == GHOST { n_pts } else { v as usize };
        self.fresh.clear();
        for i in 0..self.boundary.len() {
            let (u, v, n) = self.boundary[i];
            let t = if v == GHOST {
                [q, u, GHOST]
            } else if u == GHOST {
                [v, q, GHOST]
            } else {
                [u, v, q]
            };
            let t = self.alloc(t);
            self.set_nbr(t, u, v, n);
            self.set_nbr(n, v, u, t);
            self.start[slot(u)] = t;
            self.fresh.push(t);
        }
        for i in 0..self.boundary.len() {
            let (_, v, _) = self.boundary[i];
            let (t, tv) = (self.fresh[i], self.start[slot(v)]);
            self.set_nbr(t, v, q, tv);
            self.set_nbr(tv, q, v, t);
        }
        if let Some(&first) = self.fresh.first() {
            self.last = self
                .fresh
                .iter()
                .copied()
                .find(|&t| self.tri[t as usize][2] != GHOST)
                .unwrap_or(first);
        }
    }
}

/// For collinear a, b, p: p lies strictly between a and b.
fn strictly_between(a: [i64; 2], b: [i64; 2], p: [i64; 2]) -> bool {
    let d = |u: [i64; 2], v: [i64; 2], w: [i64; 2]| {
        (v[0] - u[0]) as i128 * (w[0] - u[0]) as i128
            + (v[1] - u[1]) as i128 * (w[1] - u[1]) as i128
    };
    d(a, b, p) > 0 && d(b, a, p) > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::Lcg;

    fn area(p: &[[f32; 2]], t: [u32; 3]) -> f64 {
        let [a, b, c] = t.map(|i| p[i as usize].map(|v| v as f64));
        (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    }

    /// Andrew's monotone chain; returns the hull area (f64) and its vertex count
    /// including collinear boundary points.
    fn hull_area(p: &[[f32; 2]]) -> f64 {
        let mut v: Vec<[f64; 2]> = p.iter().map(|q| q.map(|x| x as f64)).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v.dedup();
        let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| {
            (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
        };
        let mut h: Vec<[f64; 2]> = Vec::new();
        for pass in 0..2 {
            let start = h.len();
            let it: Box<dyn Iterator<Item = &[f64; 2]>> = if pass == 0 {
                Box::new(v.iter())
            } else {
                Box::new(v.iter().rev())
            };
            for &q in it {
                while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
                    h.pop();
                }
                h.push(q);
            }
            h.pop();
        }
        let n = h.len();
        (0..n)
            .map(|i| {
                let (a, b) = (h[i], h[(i + 1) % n]);
                a[0] * b[1] - a[1] * b[0]
            })
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn grid_triangulation_count_and_orientation() {
        for (n, step, off) in [
            (2usize, 1.0f32, 0.0f32),
            (5, 1.0, 0.0),
            (10, 7.5, 3.25),
            (21, 0.5, -4.0),
        ] {
            let pts: Vec<[f32; 2]> = (0..n * n)
                .map(|i| [(i % n) as f32 * step + off, (i / n) as f32 * step + off])
                .collect();
            let t = delaunay(&pts);
            assert_eq!(t.len(), 2 * (n - 1) * (n - 1), "n = {n}");
            check_triangulation(&pts, &t);
            let mut total = 0.0;
            for &tri in &t {
                let a = area(&pts, tri);
                assert!(a > 0.0, "{tri:?}");
                total += a / 2.0;
            }
            let side = (n - 1) as f64 * step as f64;
            assert!((total - side * side).abs() < 1e-6 * side * side);
        }
    }

    #[test]
    fn random_points_are_delaunay_and_cover_the_hull() {
        let mut rng = Lcg(12345);
        let pts: Vec<[f32; 2]> = (0..400)
            .map(|_| [rng.next() * 512.0, rng.next() * 384.0])
            .collect();
        let t = delaunay(&pts);
        assert_eq!(t, delaunay(&pts), "deterministic");
        check_triangulation(&pts, &t);
        let mut total = 0.0;
        for &tri in &t {
            let a = area(&pts, tri);
            assert!(a > 0.0, "{tri:?}");
            total += a / 2.0;
            // Empty circumcircle: no point strictly inside (relative tolerance).
            let [p0, p1, p2] = tri.map(|i| pts[i as usize].map(|v| v as f64));
            let d =
                2.0 * (p0[0] * (p1[1] - p2[1]) + p1[0] * (p2[1] - p0[1]) + p2[0] * (p0[1] - p1[1]));
            let sq = |p: [f64; 2]| p[0] * p[0] + p[1] * p[1];
            let ux =
                (sq(p0) * (p1[1] - p2[1]) + sq(p1) * (p2[1] - p0[1]) + sq(p2) * (p0[1] - p1[1]))
                    / d;
            let uy =
                (sq(p0) * (p2[0] - p1[0]) + sq(p1) * (p0[0] - p2[0]) + sq(p2) * (p1[0] - p0[0]))
                    / d;
            let r2 = (p0[0] - ux).powi(2) + (p0[1] - uy).powi(2);
            for (i, q) in pts.iter().enumerate() {
                if tri.contains(&(i as u32)) {
                    continue;
                }
                let d2 = (q[0] as f64 - ux).powi(2) + (q[1] as f64 - uy).powi(2);
                assert!(
                    d2 >= r2 * (1.0 - 1e-9),
                    "point {i} inside circle of {tri:?}"
                );
            }
        }
        let hull = hull_area(&pts);
        assert!((total - hull).abs() < 1e-6 * hull, "{total} vs {hull}");
        // Euler: 2n − h − 2 triangles; random points have no collinear hull points.
        assert!(
            t.len() > 2 * 400 - 40 && t.len() <= 2 * 400 - 5,
            "{}",
            t.len()
        );
    }

    /// Every directed edge at most once (so no two triangles overlap along an edge) and
    /// the areas add up to the convex hull's.
    fn check_triangulation(pts: &[[f32; 2]], t: &[[u32; 3]]) {
        let mut edges = std::collections::HashSet::new();
        let mut total = 0.0;
        for &tri in t {
            let a = area(pts, tri);
            assert!(a > 0.0, "{tri:?}");
            total += a / 2.0;
            for k in 0..3 {
                assert!(edges.insert((tri[k], tri[(k + 1) % 3])), "{tri:?}");
            }
        }
        let hull = hull_area(pts);
        assert!(
            (total - hull).abs() <= 1e-9 * hull.max(1.0),
            "{total} vs {hull}"
        );
    }

    #[test]
    fn lattice_points_with_duplicates_and_cocircles() {
        // Small integer lattices: many duplicates, collinear and cocircular points.
        for seed in 0..40 {
            let mut rng = Lcg(seed);
            let n = 3 + (rng.next() * 60.0) as usize;
            let side = 2.0 + (rng.next() * 8.0).floor();
            let pts: Vec<[f32; 2]> = (0..n)
                .map(|_| [(rng.next() * side).floor(), (rng.next() * side).floor()])
                .collect();
            let t = delaunay(&pts);
            check_triangulation(&pts, &t);
            for &tri in &t {
                let [a, b, c] = tri.map(|i| pts[i as usize].map(|v| v as i64));
                for q in &pts {
                    let q = q.map(|v| v as i64);
                    assert!(incircle(a, b, c, q) <= 0, "seed {seed}: {tri:?}");
                }
            }
        }
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert!(delaunay(&[]).is_empty());
        assert!(delaunay(&[[0.0, 0.0], [1.0, 1.0]]).is_empty());
        let line: Vec<[f32; 2]> = (0..20).map(|i| [i as f32, 2.0 * i as f32]).collect();
        assert!(delaunay(&line).is_empty());
        assert!(delaunay(&[[3.0, 3.0]; 10]).is_empty());
        // A line plus one point off it: a fan of n − 1 triangles.
        let mut fan = line.clone();
        fan.push([10.0, 0.0]);
        assert_eq!(delaunay(&fan).len(), 19);
        // Duplicates and non-finite points are skipped; the rest triangulates.
        let pts = vec![
            [0.0, 0.0],
            [f32::NAN, 1.0],
            [4.0, 0.0],
            [0.0, 0.0],
            [4.0, 4.0],
            [f32::INFINITY, 0.0],
            [0.0, 4.0],
            [4.0, 4.0],
            [2.0, 2.0],
        ];
        let t = delaunay(&pts);
        assert_eq!(t.len(), 4);
        for tri in &t {
            assert!(tri.iter().all(|&i| [0, 2, 4, 6, 8].contains(&i)), "{tri:?}");
            assert!(area(&pts, *tri) > 0.0);
        }
        // Collinear points starting the list, then a spread.
        let mut pts: Vec<[f32; 2]> = (0..5).map(|i| [i as f32, 0.0]).collect();
        pts.extend([[2.0, 3.0], [1.0, -2.0], [5.0, 5.0]]);
        let t = delaunay(&pts);
        let total: f64 = t.iter().map(|&tri| area(&pts, tri) / 2.0).sum();
        assert!((total - hull_area(&pts)).abs() < 1e-9);
    }
}
