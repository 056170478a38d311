//! The shipped manifest describes exactly the tables of ../shared/tables.md.

use pgbisync_codegen::model::{Direction, Mode, Strategy};

fn shipped() -> pgbisync_codegen::Model {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sync-schema.yaml");
    let text = std::fs::read_to_string(path).expect("sync-schema.yaml at the repository root");
    pgbisync_codegen::load_str("sync-schema.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn names(model: &pgbisync_codegen::Model, dir: Direction) -> Vec<&str> {
    model.directions.iter().filter(|t| t.direction == dir).map(|t| t.table.as_str()).collect()
}

#[test]
fn forward_has_the_16_tables_in_reference_order() {
    let model = shipped();
    assert_eq!(
        names(&model, Direction::Forward),
        [
            "orgmaster",
            "locmaster",
            "conmaster",
            "climaster",
            "cliunimaster",
            "taskmaster",
            "jobmaster",
            "mbstaff",
            "jobshead",
            "jobtasks",
            "taskchecklist",
            "reminder",
            "remdetail",
            "mbjobreviewnotes",
            "mbjobreviewresponse",
            "learequest"
        ]
    );
}

#[test]
fn reverse_has_the_9_mobile_tables_incremental_and_only_learequest_takes_mobile_edits() {
    let model = shipped();
    let reverse: Vec<_> = model.directions.iter().filter(|t| t.direction == Direction::Reverse).collect();
    let mut names: Vec<&str> = reverse.iter().map(|t| t.table.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "climaster",
            "conmaster",
            "jobshead",
            "learequest",
            "locmaster",
            "mbstaff",
            "orgmaster",
            "reminder",
            "taskmaster"
        ]
    );
    for t in reverse {
        let edits_flow_back = t.table == "learequest";
        let expected = if edits_flow_back { Strategy::Upsert } else { Strategy::InsertOnly };
        assert_eq!(t.strategy, expected, "{}", t.table);
        assert_eq!(t.mode, Mode::Incremental, "{}", t.table);
        assert_eq!(t.source.name, t.table, "reverse reads the cloud table");
    }
}

#[test]
fn renamed_tables_skips_lookups_and_generated_keys_are_declared() {
    let model = shipped();
    let find = |name: &str, dir| model.directions.iter().find(|t| t.table == name && t.direction == dir).unwrap();
    let reminder = find("reminder", Direction::Forward);
    assert_eq!((reminder.source.name.as_str(), reminder.target.name.as_str()), ("mbreminder", "reminder"));
    let remdetail = find("remdetail", Direction::Forward);
    assert_eq!((remdetail.source.name.as_str(), remdetail.target.name.as_str()), ("mbremdetail", "remdetail"));
    let back = find("reminder", Direction::Reverse);
    assert_eq!((back.source.name.as_str(), back.target.name.as_str()), ("reminder", "mbreminder"));

    let jobshead = find("jobshead", Direction::Forward);
    assert!(jobshead.source.column("jctincharge").is_some(), "desktop jobshead has jctincharge");
    assert!(jobshead.target.column("jctincharge").is_none(), "cloud jobshead lacks jctincharge");
    assert!(!jobshead.staged.iter().any(|s| s.name == "jctincharge"), "jctincharge is not copied");
    assert!(jobshead.dedup && jobshead.mode == Mode::Incremental && jobshead.strategy == Strategy::Upsert);

    let jobtasks = find("jobtasks", Direction::Forward);
    assert_eq!(jobtasks.strategy, Strategy::ReplaceOrigin);
    assert_eq!(jobtasks.mode, Mode::Full);
    assert_eq!(jobtasks.target.key, ["jt_id"]);
    assert!(jobtasks.target.column("jt_id").unwrap().ty.is_generated());
    assert!(matches!(
        &jobtasks.computed[..],
        [pgbisync_codegen::model::Computed::Lookup { column, table, by, take }]
            if column == "client_id" && table == "jobshead" && by == &["job_id"] && take == "client_id"
    ));
    let taskchecklist = find("taskchecklist", Direction::Forward);
    assert_eq!(taskchecklist.target.key, ["tc_id"]);

    let jobmaster = find("jobmaster", Direction::Forward);
    assert_eq!(jobmaster.mode, Mode::Incremental, "by transaction id: the table has no timestamp");
    assert!(jobmaster.tracking.is_none() && jobmaster.track_xmin);
    assert!(jobmaster.source.column("updated_at").is_none(), "desktop jobmaster has no timestamps");

    // The desktop approves mobile-born leave requests: those columns, and only those, travel forward.
    let learequest = find("learequest", Direction::Forward);
    assert_eq!(learequest.desktop_owns, ["approval_status", "approvedby", "approveddate"]);
    assert_eq!(find("learequest", Direction::Reverse).desktop_owns, learequest.desktop_owns);
}
