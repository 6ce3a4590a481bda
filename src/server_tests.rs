//! In-server tests (`cargo pgrx test`): behaviour that needs a running Postgres, checked
//! against references computed here in f64 from the same inputs.

#[pgrx::pg_schema]
mod tests {
    use half::f16;
    use pgrx::prelude::*;

    /// Small deterministic generator (xorshift) so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in [-scale, scale).
        fn f32(&mut self, scale: f32) -> f32 {
            ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        }
        fn vec(&mut self, dim: usize, scale: f32) -> Vec<f32> {
            (0..dim).map(|_| self.f32(scale)).collect()
        }
    }

    /// `[a,b,…]` with Rust's exact round-trip float formatting (independent of our output code).
    fn literal(v: &[f32]) -> String {
        let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        format!("[{}]", parts.join(","))
    }

    fn query_f64(sql: &str) -> f64 {
        Spi::get_one::<f64>(sql).unwrap().expect("non-null result")
    }

    struct Reference {
        l2: f64,
        ip: f64,
        cosine: f64,
        l1: f64,
    }

    fn reference(a: &[f32], b: &[f32]) -> Reference {
        let (mut l2, mut ip, mut na, mut nb, mut l1) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64, y as f64);
            l2 += (x - y) * (x - y);
            ip += x * y;
            na += x * x;
            nb += y * y;
            l1 += (x - y).abs();
        }
        Reference {
            l2: l2.sqrt(),
            ip,
            cosine: 1.0 - ip / (na * nb).sqrt(),
            l1,
        }
    }

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(1.0)
    }

    fn check_distances(type_name: &str, round: impl Fn(f32) -> f32) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for dim in (1..=64).chain([127, 128, 129, 255, 383, 384, 385, 767, 1023, 1536, 2000]) {
            let a: Vec<f32> = rng.vec(dim, 3.0).into_iter().map(&round).collect();
            let b: Vec<f32> = rng.vec(dim, 3.0).into_iter().map(&round).collect();
            let r = reference(&a, &b);
            let (la, lb) = (literal(&a), literal(&b));
            let q = |op: &str| {
                query_f64(&format!(
                    "SELECT '{la}'::{type_name} {op} '{lb}'::{type_name}"
                ))
            };
            assert!(close(q("<->"), r.l2, 1e-5), "{type_name} l2 dim {dim}");
            assert!(close(q("<#>"), -r.ip, 1e-4), "{type_name} ip dim {dim}");
            assert!(
                close(q("<=>"), r.cosine, 1e-4),
                "{type_name} cosine dim {dim}"
            );
            assert!(close(q("<+>"), r.l1, 1e-5), "{type_name} l1 dim {dim}");
        }
    }

    #[pg_test]
    fn vector_distances_match_f64_reference() {
        check_distances("vector", |x| x);
    }

    #[pg_test]
    fn halfvec_distances_match_f64_reference() {
        check_distances("halfvec", |x| f16::from_f32(x).to_f32());
    }

    #[pg_test]
    fn text_round_trip_is_exact() {
        let mut rng = Rng(42);
        for _ in 0..50 {
            // Magnitudes from 1e-30 to 1e30 exercise both fixed and exponent notation.
            let v: Vec<f32> = (0..37)
                .map(|i| rng.f32(1.0) * 10f32.powi((i % 61) - 30))
                .collect();
            let back = Spi::get_one::<Vec<f32>>(&format!(
                "SELECT ('{}'::vector)::text::vector::real[]",
                literal(&v)
            ))
            .unwrap()
            .unwrap();
            let want: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            let got: Vec<u32> = back.iter().map(|x| x.to_bits()).collect();
            assert_eq!(got, want);
        }
    }

    #[pg_test]
    fn binary_send_is_pgvector_wire_format() {
        let v = [1.5f32, -0.25, 3.0e-7];
        let got = Spi::get_one::<Vec<u8>>(&format!("SELECT vector_send('{}')", literal(&v)))
            .unwrap()
            .unwrap();
        let mut want = vec![0u8, 3, 0, 0];
        for x in v {
            want.extend_from_slice(&x.to_bits().to_be_bytes());
        }
        assert_eq!(got, want);

        let got = Spi::get_one::<Vec<u8>>("SELECT halfvec_send('[1.5,-2]')")
            .unwrap()
            .unwrap();
        let mut want = vec![0u8, 2, 0, 0];
        for x in [1.5f32, -2.0] {
            want.extend_from_slice(&f16::from_f32(x).to_bits().to_be_bytes());
        }
        assert_eq!(got, want);
    }

    #[pg_test]
    fn avg_matches_f64_mean() {
        let mut rng = Rng(7);
        let rows: Vec<Vec<f32>> = (0..200).map(|_| rng.vec(5, 100.0)).collect();
        let values: Vec<String> = rows
            .iter()
            .map(|r| format!("('{}'::vector)", literal(r)))
            .collect();
        let got = Spi::get_one::<Vec<f32>>(&format!(
            "SELECT avg(v)::real[] FROM (VALUES {}) t(v)",
            values.join(",")
        ))
        .unwrap()
        .unwrap();
        for (i, g) in got.iter().enumerate() {
            let mean = rows.iter().map(|r| r[i] as f64).sum::<f64>() / rows.len() as f64;
            assert!(close(*g as f64, mean, 1e-6), "element {i}: {g} vs {mean}");
        }
    }

    /// Garbage text and truncated binary must give SQL errors, never crash the backend.
    #[pg_test]
    fn malformed_input_errors_cleanly() {
        Spi::run(
            "CREATE FUNCTION try_cast(t text, typ text) RETURNS text LANGUAGE plpgsql AS $$
             BEGIN EXECUTE format('SELECT %L::%s', t, typ); RETURN 'ok';
             EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$",
        )
        .unwrap();
        let mut rng = Rng(1234);
        let alphabet = b"[],.0123456789eE+-naifINF \t";
        for i in 0..2000 {
            let len = (rng.next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize] as char)
                .collect();
            let typ = if i % 2 == 0 { "vector" } else { "halfvec" };
            let state = Spi::get_one::<String>(&format!(
                "SELECT try_cast({}, '{typ}')",
                pgrx::spi::quote_literal(&s)
            ))
            .unwrap()
            .unwrap();
            assert!(
                ["ok", "22P02", "22003", "22000", "54000"].contains(&state.as_str()),
                "{s:?} as {typ} gave SQLSTATE {state}"
            );
        }
    }

    // ------------------------------------------------------------------ hardening

    /// Runs `f` in a subtransaction, as a PL/pgSQL `EXCEPTION` block does: the ERROR it raises
    /// (its message returned) aborts the subtransaction, which releases its locks and pins.
    fn in_subtransaction(f: impl FnOnce()) -> Option<String> {
        use pgrx::pg_sys::panic::CaughtError;
        unsafe {
            let context = pg_sys::CurrentMemoryContext;
            let owner = pg_sys::CurrentResourceOwner;
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::MemoryContextSwitchTo(context);
            let f = std::panic::AssertUnwindSafe(f);
            let caught = PgTryBuilder::new(move || {
                let f = f; // the whole wrapper, not its field (edition 2021 captures fields)
                (f.0)();
                None
            })
            .catch_others(|e| {
                Some(match e {
                    CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                        r.message().to_string()
                    }
                    CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
                })
            })
            .execute();
            if caught.is_some() {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
            } else {
                pg_sys::ReleaseCurrentSubTransaction();
            }
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            caught
        }
    }

    fn open_index(name: &str) -> pg_sys::Relation {
        let oid = Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{name}'::regclass::oid"))
            .unwrap()
            .unwrap();
        unsafe { pg_sys::index_open(oid, pg_sys::AccessShareLock as i32) }
    }

    fn request_cancel() {
        unsafe {
            pg_sys::QueryCancelPending = 1;
            pg_sys::InterruptPending = 1;
        }
    }

    fn table_with_index(method: &str, rows: usize, opts: &str) {
        Spi::run(&format!(
            "CREATE TABLE h (id int, v vector(16));
             INSERT INTO h SELECT i, ARRAY(SELECT ((i * 31 + j * 17) % 101)::real
                                           FROM generate_series(1, 16) j)::vector
               FROM generate_series(1, {rows}) i;
             CREATE INDEX h_idx ON h USING {method} (v vector_l2_ops) {opts}"
        ))
        .unwrap();
    }

    /// An ERROR raised inside Postgres (errfinish resets the interrupt holdoff count before
    /// pgrx unwinds) while a guard holds a page lock: the guards leave the lock to the abort,
    /// so the holdoff count stays balanced and the page is free afterwards.
    #[pg_test]
    fn guards_leave_locks_to_abort_after_a_postgres_error() {
        table_with_index("flat", 500, "");
        let index = open_index("h_idx");
        let error = in_subtransaction(|| {
            let _page = crate::storage::PageRead::new(index, 1);
            unsafe { pg_sys::float_overflow_error() };
        });
        assert_eq!(error.as_deref(), Some("value out of range: overflow"));
        assert_eq!(unsafe { pg_sys::InterruptHoldoffCount }, 0);
        let error = in_subtransaction(|| {
            let mut w = crate::storage::WalWrite::start(index);
            w.lock(0);
            unsafe { pg_sys::float_overflow_error() };
        });
        assert!(error.is_some());
        assert_eq!(unsafe { pg_sys::InterruptHoldoffCount }, 0);
        // Both pages are unlocked: an insert takes the meta page and a data page exclusively.
        Spi::run("INSERT INTO h SELECT id, v FROM h WHERE id <= 200").unwrap();
        let n = Spi::get_one::<i64>(
            "SET LOCAL enable_seqscan = off;
             SELECT count(*) FROM (SELECT id FROM h ORDER BY v <-> (SELECT v FROM h LIMIT 1)) s",
        );
        assert_eq!(n, Ok(Some(700)));
        unsafe { pg_sys::index_close(index, pg_sys::AccessShareLock as i32) };
    }

    /// A cancel request during a scan pass is served after the runs in flight, not at the end
    /// of the pass (held buffer locks hold interrupts off).
    #[pg_test]
    fn a_scan_pass_stops_within_a_few_runs_of_a_cancel() {
        use vector_core::pages::SlotLayout;
        use vector_core::scan::Query;
        table_with_index("flat", 60_000, "");
        let index = open_index("h_idx");
        let meta = crate::storage::read_meta(index);
        let layout = SlotLayout::new(meta.dims as usize, meta.elem);
        let pipeline = crate::am::stream::Pipeline::new(&layout, index);
        let pages = layout.pages_for(meta.n_slots) as u32;
        let runs = pages.div_ceil(pipeline.run_pages as u32);
        assert!(runs > 10, "{runs} runs");
        let query = Query::new(meta.metric, vec![1.0; 16]);
        let mut pinned = 0u32;
        let error = in_subtransaction(|| {
            let mut next = 1u32;
            crate::am::stream::score_runs(&layout, &query, Some(10), None, pipeline, || {
                if next > pages {
                    return None;
                }
                pinned += 1;
                if pinned == 2 {
                    request_cancel();
                }
                let end = (next + pipeline.run_pages as u32).min(pages + 1);
                let run = (next..end)
                    .map(|b| crate::storage::PageRead::new(index, b))
                    .collect();
                next = end;
                Some(run)
            });
        });
        assert_eq!(
            error.as_deref(),
            Some("canceling statement due to user request")
        );
        assert_eq!(
            pinned, 2,
            "runs pinned before the cancel was served (of {runs})"
        );
        unsafe { pg_sys::index_close(index, pg_sys::AccessShareLock as i32) };
    }

    /// VACUUM's cost-based delay points come with no page locked: a cancel arriving during
    /// the first page is served at the delay point after it (so would a sleep be, unlocked).
    fn vacuum_serves_a_cancel_after_the_first_page(method: &str, opts: &str) {
        table_with_index(method, 5_000, opts);
        let index = open_index("h_idx");
        unsafe extern "C-unwind" fn count_and_cancel(
            _tid: pg_sys::ItemPointer,
            state: *mut std::ffi::c_void,
        ) -> bool {
            let seen = &mut *(state as *mut u64);
            *seen += 1;
            if *seen == 1 {
                request_cancel();
            }
            false // nothing dead: no page changes, the record of each is dropped
        }
        let mut seen = 0u64;
        let error = in_subtransaction(|| unsafe {
            let mut info = pg_sys::IndexVacuumInfo {
                index,
                num_heap_tuples: 5000.0,
                ..Default::default()
            };
            pg_sys::index_bulk_delete(
                &mut info,
                std::ptr::null_mut(),
                Some(count_and_cancel),
                &mut seen as *mut u64 as *mut std::ffi::c_void,
            );
        });
        assert_eq!(
            error.as_deref(),
            Some("canceling statement due to user request")
        );
        assert!(
            seen > 0 && seen < 1000,
            "{method}: {seen} of 5000 rows visited"
        );
        unsafe { pg_sys::index_close(index, pg_sys::AccessShareLock as i32) };
    }

    #[pg_test]
    fn flat_vacuum_delay_points_hold_no_lock() {
        vacuum_serves_a_cancel_after_the_first_page("flat", "");
    }

    #[pg_test]
    fn ivfflat_vacuum_delay_points_hold_no_lock() {
        vacuum_serves_a_cancel_after_the_first_page("ivfflat", "WITH (lists = 4)");
    }
}
