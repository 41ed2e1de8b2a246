//! Runbook B's model, driven directly (no sockets): log-shipping jobs, RESTORE
//! and BACKUP rules, mirroring, sessions and KILL, and loss after a site loss.

use super::config::{ChatPoolState, MirroringConfig, WorldConfig};
use super::{Caller, MediaOp, SimTime, StandaloneState, World};
use crate::sim::table::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const SHARE: &str = r"\\fs-a\pchat-logship";
const DEST: &str = r"D:\pchat-logship";
const A: &str = "SQL-CHAT-A";
const B: &str = "SQL-CHAT-B";
/// The session id of the (imagined) connection running KILL in these tests.
const OWN: i16 = 1000;

fn ms(n: u64) -> SimTime {
    Duration::from_millis(n)
}

fn world_with(cfg: WorldConfig) -> World {
    World::new(cfg, jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0)).unwrap()
}

fn world() -> World {
    world_with(WorldConfig::persistent_chat())
}

/// The example world, with copied log backups restored only once 3 s old.
fn delayed_world() -> World {
    let mut cfg = WorldConfig::persistent_chat();
    cfg.log_shipping[0].restore_delay = ms(3000);
    world_with(cfg)
}

/// One chat transaction every 10 ms in [from, to).
fn chat(w: &mut World, from: u64, to: u64) {
    for t in (from..to).step_by(10) {
        w.chat_commit(ms(t), "pchat");
    }
}

/// Checks and runs a BACKUP/RESTORE from master, as a session would.
fn media(w: &mut World, t: u64, instance: &str, op: &MediaOp) -> Result<(), u32> {
    let caller = Caller {
        spid: 70,
        database: "master",
    };
    w.check_media(ms(t), instance, caller, op).map_err(|e| e.number)?;
    w.run_media(ms(t), instance, caller, op, Duration::ZERO)
        .map(|_| ())
        .map_err(|e| e.number)
}

fn restore_log(path: &str) -> MediaOp {
    MediaOp::RestoreLog {
        database: "mgc".into(),
        path: path.into(),
        recovery: false,
    }
}

fn recover() -> MediaOp {
    MediaOp::RestoreDatabase {
        database: "mgc".into(),
        path: None,
        replace: false,
        recovery: true,
    }
}

fn state(w: &World, instance: &str, db: &str) -> StandaloneState {
    w.standalone_database(instance, db).unwrap().state
}

fn dest(name: &str) -> String {
    format!(r"{DEST}\{name}")
}

/// A view's column `name` in every row.
fn column(w: &mut World, t: u64, instance: &str, view: &str, name: &str) -> Vec<Value> {
    let rs = w.view(ms(t), instance, view).unwrap();
    let i = rs.columns.iter().position(|c| c.name == name).unwrap();
    rs.rows.iter().map(|r| r[i].clone()).collect()
}

fn text(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
fn log_shipping_jobs_back_up_copy_and_restore_on_schedule() {
    let mut w = world();
    chat(&mut w, 0, 4000);
    // At 2 s the backup job wrote the 200 commits before it, the copy job
    // copied the file and the restore job applied it; at 4 s the next ones.
    let files = ["mgc_20260101000002.trn", "mgc_20260101000004.trn"];
    w.advance(ms(4000));
    assert_eq!(w.files(SHARE, A), files);
    assert_eq!(w.files(DEST, B), files);
    assert_eq!(w.file_transactions(&dest(files[0]), B).unwrap().len(), 200);
    // The bootstrap transaction, then everything shipped.
    let b = w.standalone_database(B, "mgc").unwrap();
    assert_eq!((b.state, b.log_length), (StandaloneState::Restoring, 401));
    assert_eq!(b.last_txn, w.standalone_database(A, "mgc").unwrap().last_txn);
    assert!(b.log_shipping_secondary);
    let history = w.restore_history(B);
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|r| r.restore_type == 'L' && !r.recovery));
    assert_eq!(history[1].file.as_deref(), Some(dest(files[1]).as_str()));
    assert_eq!(
        column(
            &mut w,
            4000,
            B,
            "msdb.dbo.log_shipping_monitor_secondary",
            "last_restored_file"
        ),
        [text(&dest(files[1]))]
    );
    assert_eq!(
        column(&mut w, 4000, B, "msdb.dbo.restorehistory", "restore_type"),
        [text("L"), text("L")]
    );
    // The primary shows no secondary rows; msdb exists there all the same.
    assert!(
        column(
            &mut w,
            4000,
            A,
            "msdb.dbo.log_shipping_secondary_databases",
            "secondary_database"
        )
        .is_empty()
    );
}

#[test]
fn the_restore_delay_and_an_unreachable_share_hold_files_back() {
    let mut w = delayed_world();
    chat(&mut w, 0, 4100);
    // Copied at 2 s and 4 s; only the 2 s file is 3 s old at 6 s.
    assert_eq!(w.files(DEST, B).len(), 2);
    assert!(w.restore_history(B).is_empty());
    w.advance(ms(6000));
    assert_eq!(w.restore_history(B).len(), 1);
    w.partition(ms(6000), "site-a", "site-b").unwrap();
    chat(&mut w, 6000, 10_100);
    // The backup job goes on; the copy job cannot reach the share.
    assert_eq!(w.files(SHARE, A).len(), 5);
    assert_eq!(w.files(DEST, B).len(), 3);
    assert!(w.files(SHARE, B).is_empty());
    w.heal(ms(10_100));
    w.advance(ms(12_000));
    assert_eq!(w.files(DEST, B).len(), 6);
}

#[test]
fn restores_must_continue_the_chain_exactly() {
    let mut w = delayed_world();
    chat(&mut w, 0, 6100);
    assert!(w.delete_log_shipping_secondary(ms(6100), B, "mgc"));
    // Deleting again is a no-op (see the engine for the procedure's answer).
    assert!(!w.delete_log_shipping_secondary(ms(6100), B, "mgc"));
    let files = w.files(DEST, B);
    assert_eq!(files.len(), 3, "{files:?}");
    // The restore job applied the 2 s file before the configuration went away.
    assert_eq!(w.restore_history(B).len(), 1);
    assert_eq!(media(&mut w, 6200, B, &restore_log(&dest(&files[2]))), Err(4305));
    assert_eq!(media(&mut w, 6200, B, &restore_log(&dest(&files[0]))), Err(4326));
    assert_eq!(media(&mut w, 6200, B, &restore_log(&dest(&files[1]))), Ok(()));
    assert_eq!(media(&mut w, 6200, B, &restore_log(&dest(&files[1]))), Err(4326));
    assert_eq!(media(&mut w, 6200, B, &restore_log(&dest(&files[2]))), Ok(()));
    assert_eq!(media(&mut w, 6200, B, &restore_log(&dest("mgc_nope.trn"))), Err(3201));
    assert_eq!(state(&w, B, "mgc"), StandaloneState::Restoring);
    assert_eq!(media(&mut w, 6300, B, &recover()), Ok(()));
    assert_eq!(state(&w, B, "mgc"), StandaloneState::Online);
    // Recovery ended the restore sequence.
    assert_eq!(media(&mut w, 6400, B, &restore_log(&dest(&files[2]))), Err(3117));
    assert_eq!(media(&mut w, 6400, B, &recover()), Err(3153));
    let history = w.restore_history(B);
    let last = history.last().unwrap();
    assert_eq!((last.restore_type, last.recovery, last.file.clone()), ('D', true, None));
    assert_eq!(w.database_access(B, "mgc"), Ok(()));
}

#[test]
fn an_unreachable_share_is_3201_and_xp_fileexist_zeros() {
    let mut w = world();
    chat(&mut w, 0, 2100);
    w.stop_instance(ms(2100), A).unwrap();
    let on_share = format!(r"{SHARE}\mgc_20260101000002.trn");
    let op = MediaOp::RestoreLog {
        database: "mgc".into(),
        path: on_share.clone(),
        recovery: false,
    };
    let caller = Caller {
        spid: 70,
        database: "master",
    };
    let e = w.check_media(ms(2200), B, caller, &op).unwrap_err();
    assert_eq!(e.number, 3201);
    assert_eq!(
        e.message,
        format!("Cannot open backup device '{on_share}'. Operating system error 53(The network path was not found.).")
    );
    let status = |w: &mut World, path: &str| {
        let rs = w.xp_fileexist(ms(2200), B, path);
        rs.rows[0].clone()
    };
    let zeros = vec![Value::Int(0); 3];
    assert_eq!(status(&mut w, SHARE), zeros);
    assert_eq!(status(&mut w, r"\\nowhere\share"), zeros);
    assert_eq!(status(&mut w, DEST), [Value::Int(0), Value::Int(1), Value::Int(1)]);
    assert_eq!(
        status(&mut w, &dest("mgc_20260101000002.trn")),
        [Value::Int(1), Value::Int(0), Value::Int(1)]
    );
    assert_eq!(
        status(&mut w, r"D:\elsewhere"),
        [Value::Int(0), Value::Int(0), Value::Int(1)]
    );
    assert!(w.xp_dirtree(ms(2200), B, SHARE, 1, 1).unwrap().rows.is_empty());
    let listed = w.xp_dirtree(ms(2200), B, r"D:\", 1, 1).unwrap();
    assert_eq!(listed.rows, [vec![text("pchat-logship"), Value::Int(1), Value::Int(0)]]);
    assert_eq!(
        w.xp_dirtree(ms(2200), B, DEST, 2, 1).unwrap_err().number,
        super::SIM_UNVERIFIED
    );
    let missing = media(&mut w, 2200, B, &restore_log(&dest("mgc_20990101000000.trn")));
    assert_eq!(missing, Err(3201));
}

/// `sys.database_mirroring` of `db` on `instance`: (role, state, partner), None if not mirrored.
fn mirroring(w: &mut World, t: u64, instance: &str, db: &str) -> Option<(Value, Value, Value)> {
    let id = Value::Int(i64::from(w.standalone_database(instance, db)?.database_id));
    let ids = column(w, t, instance, "sys.database_mirroring", "database_id");
    let row = ids.iter().position(|x| *x == id)?;
    let role = column(w, t, instance, "sys.database_mirroring", "mirroring_role_desc")[row].clone();
    let state = column(w, t, instance, "sys.database_mirroring", "mirroring_state_desc")[row].clone();
    let partner = column(w, t, instance, "sys.database_mirroring", "mirroring_partner_instance")[row].clone();
    (role != Value::Null).then_some((role, state, partner))
}

#[test]
fn mirroring_ships_log_and_set_partner_off_removes_both_sides() {
    let mut w = world();
    chat(&mut w, 0, 500);
    w.advance(ms(600));
    let (a, m) = (
        w.standalone_database(A, "mgc").unwrap(),
        w.standalone_database("SQL-CHAT-A-MIR", "mgc").unwrap(),
    );
    assert_eq!((a.log_length, a.last_txn), (m.log_length, m.last_txn));
    assert_eq!(m.state, StandaloneState::Restoring);
    assert_eq!(
        mirroring(&mut w, 600, A, "mgc"),
        Some((text("PRINCIPAL"), text("SYNCHRONIZED"), text("SQL-CHAT-A-MIR")))
    );
    assert_eq!(
        mirroring(&mut w, 600, "SQL-CHAT-A-MIR", "mgc"),
        Some((text("MIRROR"), text("SYNCHRONIZED"), text(A)))
    );
    // The mirror copy cannot be opened.
    assert_eq!(w.database_access("SQL-CHAT-A-MIR", "mgc").unwrap_err().number, 927);
    w.set_partner_off(ms(700), "SQL-CHAT-A-MIR", "mgc").unwrap();
    assert_eq!(mirroring(&mut w, 700, A, "mgc"), None);
    assert_eq!(mirroring(&mut w, 700, "SQL-CHAT-A-MIR", "mgc"), None);
    assert_eq!(state(&w, "SQL-CHAT-A-MIR", "mgc"), StandaloneState::Restoring);
    assert_eq!(w.set_partner_off(ms(700), A, "mgc").unwrap_err().number, 1416);
    assert_eq!(w.set_partner_off(ms(700), A, "nope").unwrap_err().number, 15151);
}

#[test]
fn set_partner_off_while_the_partner_is_unreachable_leaves_its_side() {
    let mut cfg = WorldConfig::persistent_chat();
    cfg.mirroring[1] = MirroringConfig {
        database: "mgccomp".into(),
        principal: A.into(),
        mirror: "SQL-CHAT-B-MIR".into(),
    };
    let mut w = world_with(cfg);
    w.partition(ms(100), "site-a", "site-b").unwrap();
    let disconnected = Some((text("PRINCIPAL"), text("DISCONNECTED"), text("SQL-CHAT-B-MIR")));
    assert_eq!(mirroring(&mut w, 100, A, "mgccomp"), disconnected);
    w.set_partner_off(ms(200), A, "mgccomp").unwrap();
    assert_eq!(mirroring(&mut w, 200, A, "mgccomp"), None);
    assert_eq!(
        mirroring(&mut w, 200, "SQL-CHAT-B-MIR", "mgccomp"),
        Some((text("MIRROR"), text("DISCONNECTED"), text(A)))
    );
    // Once the partner can be told, its side goes too.
    w.heal(ms(300));
    assert_eq!(mirroring(&mut w, 300, "SQL-CHAT-B-MIR", "mgccomp"), None);
}

#[test]
fn chat_servers_hold_sessions_until_killed_or_the_instance_stops() {
    let mut w = world();
    let in_mgc = |w: &World, instance: &str| w.standalone_database(instance, "mgc").unwrap().user_sessions;
    assert_eq!(in_mgc(&w, A), 2);
    let own = w.allocate_spid(A) as i16;
    let rs = w.exec_sessions(ms(10), A, own, "master");
    let users = rs.rows.iter().filter(|r| r[7] == Value::Bit(true)).count();
    assert_eq!(users, 3, "the caller and two chat servers");
    assert_eq!(rs.rows.len(), 8, "and five system sessions");
    // Clearing the active servers leaves their sessions.
    w.chat_set_active_servers(ms(20), "pchat", vec![]).unwrap();
    assert_eq!(in_mgc(&w, A), 2);
    let chat = w.pool.sessions[0].id;
    assert_eq!(w.kill(ms(30), A, own, i128::from(chat)), Ok(()));
    assert_eq!(in_mgc(&w, A), 1);
    assert_eq!(w.kill(ms(30), A, own, i128::from(chat)).unwrap_err().number, 6106);
    assert_eq!(w.kill(ms(30), A, own, i128::from(own)).unwrap_err().number, 6104);
    assert_eq!(w.kill(ms(30), A, own, 3).unwrap_err().number, 6107);
    assert_eq!(w.kill(ms(30), A, own, 0).unwrap_err().number, 6101);
    assert_eq!(w.kill(ms(30), A, own, 40_000).unwrap_err().number, 6101);
    // A session in a RESTORING database (a fault) is killable too.
    let stale = w.open_session(ms(40), B, "mgc").unwrap();
    assert_eq!(in_mgc(&w, B), 1);
    assert!(w.open_session(ms(40), B, "nope").is_err());
    w.stop_instance(ms(50), A).unwrap();
    w.start_instance(ms(60), A).unwrap();
    assert_eq!(in_mgc(&w, A), 0);
    assert_eq!(w.kill(ms(70), B, own, i128::from(stale)), Ok(()));
    assert_eq!(in_mgc(&w, B), 0);
}

#[test]
fn exclusive_access_is_3101_while_a_session_is_in_the_database() {
    let mut w = world();
    chat(&mut w, 0, 2100);
    let stale = w.open_session(ms(2100), B, "mgc").unwrap();
    let file = dest("mgc_20260101000002.trn");
    // The restore job is held back too: nothing applied after the session came.
    chat(&mut w, 2100, 4100);
    assert_eq!(w.restore_history(B).len(), 1);
    assert_eq!(media(&mut w, 4100, B, &restore_log(&file)), Err(3101));
    assert_eq!(media(&mut w, 4100, B, &recover()), Err(3101));
    w.kill(ms(4100), B, OWN, i128::from(stale)).unwrap();
    assert_eq!(media(&mut w, 4100, B, &restore_log(&file)), Err(4326));
    // A tail-log backup needs the database to itself: the chat servers hold it.
    let tail = MediaOp::BackupLog {
        database: "mgc".into(),
        path: format!(r"{SHARE}\tail.trn"),
        init: true,
        norecovery: true,
    };
    assert_eq!(media(&mut w, 4200, A, &tail), Err(3101));
    // RESTORE from the database itself is 3102; onto a mirrored one, 3104.
    let own = Caller {
        spid: 70,
        database: "mgc",
    };
    assert_eq!(w.check_media(ms(4200), B, own, &recover()).unwrap_err().number, 3102);
    let full = format!(r"{SHARE}\mgc.bak");
    let backup = MediaOp::BackupDatabase {
        database: "mgc".into(),
        path: full.clone(),
        init: true,
    };
    assert_eq!(media(&mut w, 4200, A, &backup), Ok(()));
    assert_eq!(media(&mut w, 4200, A, &backup), Ok(()), "WITH INIT overwrites");
    let replace = |db: &str| MediaOp::RestoreDatabase {
        database: db.into(),
        path: Some(full.clone()),
        replace: true,
        recovery: true,
    };
    assert_eq!(media(&mut w, 4300, A, &replace("mgc")), Err(3104));
    w.open_session(ms(4300), B, "mgccomp").unwrap();
    assert_eq!(media(&mut w, 4300, B, &replace("mgccomp")), Err(3101));
    assert_eq!(media(&mut w, 4300, B, &replace("master")), Err(3108));
}

#[test]
fn a_tail_log_backup_leaves_the_primary_restoring_and_ships_the_rest() {
    let mut w = world();
    chat(&mut w, 0, 2500);
    w.chat_set_active_servers(ms(2500), "pchat", vec![]).unwrap();
    let sessions: Vec<i16> = w
        .pool
        .sessions
        .iter()
        .filter(|s| s.instance == A)
        .map(|s| s.id)
        .collect();
    for id in sessions {
        w.kill(ms(2500), A, OWN, i128::from(id)).unwrap();
    }
    w.set_partner_off(ms(2500), A, "mgc").unwrap();
    let tail = format!(r"{SHARE}\mgc_tail.trn");
    let op = MediaOp::BackupLog {
        database: "mgc".into(),
        path: tail.clone(),
        init: true,
        norecovery: true,
    };
    assert_eq!(media(&mut w, 2600, A, &op), Ok(()));
    assert_eq!(state(&w, A, "mgc"), StandaloneState::Restoring);
    assert!(w.delete_log_shipping_secondary(ms(2600), B, "mgc"));
    assert_eq!(media(&mut w, 2700, B, &restore_log(&tail)), Ok(()));
    assert_eq!(media(&mut w, 2700, B, &recover()), Ok(()));
    w.chat_set_state(ms(2700), "pchat", ChatPoolState::FailedOver).unwrap();
    w.chat_set_active_servers(ms(2700), "pchat", vec!["chat-b1".into()])
        .unwrap();
    // Nothing acknowledged was lost: the tail carried the rest.
    assert_eq!(w.chat_lost("pchat"), Some(0));
    assert!(w.chat_commit(ms(2800), "pchat"));
    assert_eq!(w.chat_lost("pchat"), Some(0));
}

/// Transactions B can still get after site A is lost: its copy and the files copied to it.
fn recoverable(w: &World) -> BTreeSet<u64> {
    let mut have = w.database_transactions(B, "mgc").unwrap();
    for f in w.files(DEST, B) {
        have.extend(w.file_transactions(&dest(&f), B).unwrap());
    }
    have
}

#[test]
fn after_a_site_loss_exactly_the_unshipped_acknowledged_transactions_are_lost() {
    let mut w = delayed_world();
    chat(&mut w, 0, 7005);
    w.stop_instance(ms(7005), A).unwrap();
    w.stop_instance(ms(7005), "SQL-CHAT-A-MIR").unwrap();
    let acked = w.chat_pool("pchat").unwrap().acked;
    assert_eq!(acked, 701);
    let have = recoverable(&w);
    let expected = w.pool.pools[0].acked.iter().filter(|t| !have.contains(t)).count() as u64;
    // Everything committed after the 6 s backup.
    assert_eq!(expected, 101);
    // Nothing commits while the serving copy is gone.
    assert!(!w.chat_commit(ms(7100), "pchat"));
    assert_eq!(w.chat_lost("pchat"), None);
    // Runbook B, failover: remove log shipping, apply the rest, recover.
    assert!(w.delete_log_shipping_secondary(ms(7200), B, "mgc"));
    let last = w.restore_history(B).last().and_then(|r| r.file.clone()).unwrap();
    for f in w.files(DEST, B) {
        if dest(&f) > last {
            assert_eq!(media(&mut w, 7300, B, &restore_log(&dest(&f))), Ok(()), "{f}");
        }
    }
    assert_eq!(media(&mut w, 7400, B, &recover()), Ok(()));
    w.chat_set_state(ms(7500), "pchat", ChatPoolState::FailedOver).unwrap();
    w.install_mirror(ms(7500), B, "SQL-CHAT-B-MIR", &["mgc".into()])
        .unwrap();
    w.install_mirror(ms(7500), B, "SQL-CHAT-B-MIR", &["mgc".into()])
        .unwrap();
    assert!(
        w.install_mirror(ms(7500), B, "SQL-CHAT-A-MIR", &["mgc".into()])
            .is_err()
    );
    w.chat_set_active_servers(ms(7500), "pchat", vec!["chat-b1".into(), "chat-b2".into()])
        .unwrap();
    assert_eq!(w.chat_lost("pchat"), Some(expected));
    let view = w.chat_pool("pchat").unwrap();
    assert_eq!(
        (view.state, view.serving_instance.as_str()),
        (ChatPoolState::FailedOver, B)
    );
    // New transactions are acknowledged and kept; the loss does not grow.
    chat(&mut w, 7600, 8600);
    assert_eq!(w.chat_pool("pchat").unwrap().acked, acked + 100);
    assert_eq!(w.chat_lost("pchat"), Some(expected));
    // chat-a1 and chat-a2 were still active when the state flipped: four sessions.
    assert_eq!(w.standalone_database(B, "mgc").unwrap().user_sessions, 4);
    w.advance(ms(8700));
    let mirror = w.standalone_database("SQL-CHAT-B-MIR", "mgc").unwrap();
    assert_eq!(mirror.last_txn, w.standalone_database(B, "mgc").unwrap().last_txn);
    assert_eq!(mirror.mirroring_partner.as_deref(), Some(B));
}

#[test]
fn reestablished_log_shipping_ignores_the_old_chain() {
    let mut w = world();
    chat(&mut w, 0, 4100);
    assert!(w.delete_log_shipping_secondary(ms(4100), B, "mgc"));
    assert_eq!(media(&mut w, 4100, B, &recover()), Ok(()));
    // A log backup of B on its own recovery fork.
    let own_fork = dest("mgc_b.trn");
    let op = MediaOp::BackupLog {
        database: "mgc".into(),
        path: own_fork.clone(),
        init: false,
        norecovery: false,
    };
    assert_eq!(media(&mut w, 4100, B, &op), Ok(()));
    assert_eq!(
        media(&mut w, 4100, B, &op),
        Err(super::SIM_UNVERIFIED),
        "appending is not simulated"
    );
    // B is ONLINE; re-initialising it from A puts it back to RESTORING.
    let stale = w.open_session(ms(4100), B, "mgc").unwrap();
    w.establish_log_shipping(ms(4200), "mgc", A, B, SHARE, DEST).unwrap();
    assert_eq!(state(&w, B, "mgc"), StandaloneState::Restoring);
    assert_eq!(w.kill(ms(4200), B, OWN, i128::from(stale)).unwrap_err().number, 6106);
    chat(&mut w, 4200, 8300);
    let a = w.standalone_database(A, "mgc").unwrap();
    let b = w.standalone_database(B, "mgc").unwrap();
    assert!(b.log_shipping_secondary);
    // Shipped up to the backup at 8.2 s (the jobs run 2 s after establishing).
    assert_eq!(b.log_length + 10, a.log_length);
    // Files of the old chain were skipped; one from B's own fork does not apply.
    let old = dest("mgc_20260101000002.trn");
    assert_eq!(media(&mut w, 8300, B, &restore_log(&old)), Err(4326));
    assert_eq!(media(&mut w, 8300, B, &restore_log(&own_fork)), Err(4330));
    assert!(w.establish_log_shipping(ms(8300), "mgc", B, A, SHARE, DEST).is_err());
}

#[test]
fn sys_databases_lists_standalone_copies_after_the_system_ones() {
    let mut w = world();
    let names = column(&mut w, 0, B, "sys.databases", "name");
    let states = column(&mut w, 0, B, "sys.databases", "state_desc");
    let ids = column(&mut w, 0, B, "sys.databases", "database_id");
    assert_eq!(names[4..], [text("mgc"), text("mgccomp")]);
    assert_eq!(states[4..], [text("RESTORING"), text("ONLINE")]);
    assert_eq!(ids[..4], [Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(4)]);
    assert!(matches!(ids[4], Value::Int(n) if n >= 5));
    let mirrored = column(&mut w, 0, "SQL-CHAT-A-MIR", "sys.databases", "state_desc");
    assert_eq!(mirrored[4..], [text("RESTORING"), text("RESTORING")]);
}
