//! Small-count suppression for the Deltakere and Geografi tables, after
//! Statistics Norway's practice: a count in 1..threshold-1 is hidden
//! (primary), and further cells are hidden (secondary) until no hidden cell
//! can be worked out from the row and column totals, which stay shown.
//!
//! A table with known row and column totals is a bipartite graph: rows and
//! columns are nodes, hidden cells are edges. A hidden cell's value is
//! fixed by the totals exactly when its edge lies on no cycle (a bridge);
//! on a cycle, adding and subtracting around it changes the cells while
//! every total stays the same. So secondary suppression hides cells until
//! no hidden cell is a bridge.

/// A count table and which of its cells are hidden.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppressed {
    pub cells: Vec<Vec<u64>>,
    pub hidden: Vec<Vec<bool>>,
    pub primary: usize,
    pub secondary: usize,
    /// Hidden cells the totals still give away because nothing was left
    /// to hide with them (a table of one row, say). Reported, not hidden.
    pub unprotected: Vec<(usize, usize)>,
}

impl Suppressed {
    /// The value a reader sees: `None` for a hidden cell.
    pub fn shown(&self, r: usize, c: usize) -> Option<u64> {
        (!self.hidden[r][c]).then_some(self.cells[r][c])
    }

    pub fn row_total(&self, r: usize) -> u64 {
        self.cells[r].iter().sum()
    }

    pub fn col_total(&self, c: usize) -> u64 {
        self.cells.iter().map(|row| row[c]).sum()
    }

    pub fn total(&self) -> u64 {
        self.cells.iter().flatten().sum()
    }

    pub fn hidden_count(&self) -> usize {
        self.primary + self.secondary
    }
}

/// Whether `n` is a small count that must not be shown.
pub fn is_small(n: u64, threshold: u32) -> bool {
    n > 0 && n < u64::from(threshold)
}

/// Hides the small counts in `cells` (rows of equal length) and as many
/// others as it takes to keep them hidden.
pub fn suppress(cells: Vec<Vec<u64>>, threshold: u32) -> Suppressed {
    let cols = cells.first().map_or(0, Vec::len);
    assert!(cells.iter().all(|r| r.len() == cols), "a table's rows have equal length");
    let mut hidden: Vec<Vec<bool>> =
        cells.iter().map(|r| r.iter().map(|&n| is_small(n, threshold)).collect()).collect();
    let primary = hidden.iter().flatten().filter(|&&h| h).count();
    let mut secondary = 0;
    let mut given_up = Vec::new();
    while let Some((r, c)) = bridges(&hidden).into_iter().find(|b| !given_up.contains(b)) {
        match cheapest_rectangle(&cells, &hidden, r, c) {
            Some(cover) => {
                for (i, j) in cover {
                    hidden[i][j] = true;
                    secondary += 1;
                }
            }
            None => given_up.push((r, c)),
        }
    }
    let unprotected = bridges(&hidden);
    Suppressed { cells, hidden, primary, secondary, unprotected }
}

/// The shown cells to hide so that (r, c) lies on a rectangle of hidden
/// cells, which no combination of totals can undo: fewest new cells, then
/// fewest zeros (a reader may know which cells are structurally empty),
/// then the least value lost. Cells in an all-zero row or column are never
/// used: their total already says they are zero.
fn cheapest_rectangle(cells: &[Vec<u64>], hidden: &[Vec<bool>], r: usize, c: usize) -> Option<Vec<(usize, usize)>> {
    /// (new cells, zeros among them, value hidden), compared in that order.
    type Cost = (usize, usize, u64);
    let row_zero: Vec<bool> = cells.iter().map(|row| row.iter().all(|&n| n == 0)).collect();
    let col_zero: Vec<bool> = (0..cells[0].len()).map(|j| cells.iter().all(|row| row[j] == 0)).collect();
    let mut best: Option<(Cost, Vec<(usize, usize)>)> = None;
    for i in (0..cells.len()).filter(|&i| i != r && !row_zero[i]) {
        for j in (0..cells[0].len()).filter(|&j| j != c && !col_zero[j]) {
            let new: Vec<(usize, usize)> =
                [(r, j), (i, c), (i, j)].into_iter().filter(|&(a, b)| !hidden[a][b]).collect();
            let zeros = new.iter().filter(|&&(a, b)| cells[a][b] == 0).count();
            let lost = new.iter().map(|&(a, b)| cells[a][b]).sum();
            let key = (new.len(), zeros, lost);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, new));
            }
        }
    }
    best.map(|(_, cover)| cover)
}

/// Every hidden cell whose value the totals determine.
fn bridges(hidden: &[Vec<bool>]) -> Vec<(usize, usize)> {
    let rows = hidden.len();
    let cols = hidden.first().map_or(0, Vec::len);
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter(|&(r, c)| hidden[r][c] && !connected_without(hidden, r, c))
        .collect()
}

/// Whether row `r` still reaches column `c` through hidden cells when the
/// cell (r, c) itself is left out. Nodes: rows 0..R, columns R..R+C.
fn connected_without(hidden: &[Vec<bool>], r: usize, c: usize) -> bool {
    let rows = hidden.len();
    let cols = hidden[0].len();
    let mut seen = vec![false; rows + cols];
    let mut stack = vec![r];
    seen[r] = true;
    while let Some(n) = stack.pop() {
        let next: Vec<usize> = if n < rows {
            (0..cols).filter(|&j| hidden[n][j] && (n, j) != (r, c)).map(|j| rows + j).collect()
        } else {
            let j = n - rows;
            (0..rows).filter(|&i| hidden[i][j] && (i, j) != (r, c)).collect()
        };
        for m in next {
            if !seen[m] {
                seen[m] = true;
                stack.push(m);
            }
        }
    }
    seen[rows + c]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent of the graph argument above: Gaussian elimination over
    /// the equations a reader has (each row and column total minus the
    /// shown cells equals the sum of its hidden cells). A hidden cell is
    /// recoverable exactly when its unit vector lies in the span of those
    /// equations, i.e. adding it does not raise the rank.
    fn recoverable(s: &Suppressed) -> Vec<(usize, usize)> {
        let vars: Vec<(usize, usize)> = (0..s.cells.len())
            .flat_map(|r| (0..s.cells[r].len()).map(move |c| (r, c)))
            .filter(|&(r, c)| s.hidden[r][c])
            .collect();
        let mut equations: Vec<Vec<f64>> = Vec::new();
        for r in 0..s.cells.len() {
            equations.push(vars.iter().map(|&(i, _)| f64::from(u8::from(i == r))).collect());
        }
        for c in 0..s.cells.first().map_or(0, Vec::len) {
            equations.push(vars.iter().map(|&(_, j)| f64::from(u8::from(j == c))).collect());
        }
        let base = rank(equations.clone());
        vars.iter()
            .enumerate()
            .filter(|&(k, _)| {
                let mut with = equations.clone();
                with.push((0..vars.len()).map(|i| f64::from(u8::from(i == k))).collect());
                rank(with) == base
            })
            .map(|(_, &v)| v)
            .collect()
    }

    fn rank(mut m: Vec<Vec<f64>>) -> usize {
        let width = m.first().map_or(0, Vec::len);
        let mut rank = 0;
        for col in 0..width {
            let Some(p) = (rank..m.len()).find(|&i| m[i][col].abs() > 1e-9) else { continue };
            m.swap(rank, p);
            let pivot = m[rank].clone();
            for (i, row) in m.iter_mut().enumerate() {
                if i != rank && row[col].abs() > 1e-9 {
                    let f = row[col] / pivot[col];
                    for (x, p) in row.iter_mut().zip(&pivot) {
                        *x -= f * p;
                    }
                }
            }
            rank += 1;
        }
        rank
    }

    fn hidden_cells(s: &Suppressed) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (r, row) in s.hidden.iter().enumerate() {
            for (c, &h) in row.iter().enumerate() {
                if h {
                    out.push((r, c));
                }
            }
        }
        out
    }

    #[test]
    fn nothing_small_hides_nothing() {
        let s = suppress(vec![vec![0, 5, 12], vec![7, 0, 30]], 5);
        assert_eq!((s.primary, s.secondary), (0, 0));
        assert_eq!(s.shown(0, 1), Some(5));
        assert_eq!((s.row_total(1), s.col_total(2), s.total()), (37, 42, 54));
    }

    #[test]
    fn one_small_cell_takes_three_others_with_it() {
        // 3 alone would be total minus the rest of its row or column; the
        // smallest way to protect it is a rectangle of four hidden cells.
        let s = suppress(vec![vec![3, 10, 20], vec![8, 6, 40], vec![9, 30, 7]], 5);
        assert_eq!(s.primary, 1);
        assert_eq!(s.secondary, 3);
        assert_eq!(hidden_cells(&s), [(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert_eq!(s.shown(0, 0), None);
        assert!(recoverable(&s).is_empty() && s.unprotected.is_empty());
    }

    #[test]
    fn a_single_row_cannot_be_protected_and_says_so() {
        // The column totals are the cells themselves.
        let s = suppress(vec![vec![3, 10, 20]], 5);
        assert_eq!(s.unprotected, [(0, 0)]);
        assert_eq!(recoverable(&s), [(0, 0)]);
    }

    #[test]
    fn the_solver_does_find_a_lone_hidden_cell() {
        // Guards the test itself: a table with one hidden cell is solvable.
        let mut s = suppress(vec![vec![10, 20], vec![30, 40]], 5);
        s.hidden[0][0] = true;
        assert_eq!(recoverable(&s), [(0, 0)]);
        // Two cells in one row: each column total gives its cell away.
        s.hidden[0][1] = true;
        assert_eq!(recoverable(&s), [(0, 0), (0, 1)]);
    }

    #[test]
    fn a_two_cycle_joined_by_a_bridge_is_repaired() {
        // Every hidden row and column has two hidden cells, yet the cell
        // joining the two squares is fixed by the totals: the simple
        // "two per line" rule is not enough.
        let cells = vec![vec![1, 1, 9, 9, 9], vec![1, 1, 1, 9, 9], vec![9, 9, 9, 1, 1], vec![9, 9, 9, 1, 1]];
        let s = suppress(cells, 5);
        assert_eq!((s.primary, s.secondary), (9, 1));
        assert!(s.hidden[0][2], "the cheapest fix closes the loop through row 0");
        assert!(recoverable(&s).is_empty(), "{:?}", s.hidden);
    }

    #[test]
    fn random_tables_never_leave_a_recoverable_cell() {
        // A small deterministic generator: many shapes, many small counts.
        let mut seed = 0x2545_f491_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let (mut hidden_total, mut unprotected) = (0, 0);
        for _ in 0..300 {
            let (rows, cols) = (2 + next(5) as usize, 2 + next(6) as usize);
            let cells: Vec<Vec<u64>> =
                (0..rows).map(|_| (0..cols).map(|_| if next(3) == 0 { next(5) } else { next(40) }).collect()).collect();
            let s = suppress(cells.clone(), 5);
            for (r, row) in cells.iter().enumerate() {
                for (c, &n) in row.iter().enumerate() {
                    if is_small(n, 5) {
                        assert!(s.hidden[r][c], "every small count is hidden");
                    }
                }
            }
            hidden_total += s.hidden_count();
            unprotected += s.unprotected.len();
            assert_eq!(recoverable(&s), s.unprotected, "{cells:?} -> {:?}", s.hidden);
        }
        assert!(hidden_total > 300, "the tables did exercise suppression");
        assert!(unprotected < 10, "only tables with all-zero lines leave cells open: {unprotected}");
    }

    #[test]
    fn threshold_is_the_profiles() {
        let s = suppress(vec![vec![9, 20], vec![30, 40]], 10);
        assert_eq!(s.primary, 1);
        assert_eq!(s.hidden_count(), 4);
        assert!(!is_small(0, 5) && is_small(4, 5) && !is_small(5, 5));
    }
}
