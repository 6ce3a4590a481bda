//! In-server tests (`cargo pgrx test`): behaviour that needs a running Postgres.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn extension_loads() {
        let v = Spi::get_one::<String>("SELECT '[1,2,3]'::vector::text").unwrap();
        assert_eq!(v.as_deref(), Some("[1,2,3]"));
    }
}
