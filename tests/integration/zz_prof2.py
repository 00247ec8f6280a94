import os, time
import benchfeed, bench_run
from conftest import DEPTS

def test_prof(daemon_factory, refdb, pg):
    db = refdb
    pg.stop()
    with open(pg.data / "postgresql.conf", "a") as f:
        f.write("shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\n")
    pg.start()
    db.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    d = daemon_factory(limits={"max_connections_per_principal": 8}, log={"level": "warning"}).start()
    parts = benchfeed.streams("w", 4000, 4, DEPTS, late=0.02, out_of_order=0.02, alerting=0.02)
    bench_run.closed_loop(d, parts, 100)
    db.query("SELECT pg_stat_statements_reset()")
    parts = benchfeed.streams("p", 20000, 4, DEPTS, late=0.02, out_of_order=0.02, alerting=0.02)
    rnd, secs = bench_run.closed_loop(d, parts, 100)
    print("\n%.0f events/s" % (20000 / secs))
    rows = db.query("SELECT calls, round(total_exec_time::numeric, 0), round(total_plan_time::numeric,0), toplevel, left(regexp_replace(query, '\\s+', ' ', 'g'), 110)"
                    " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 28")
    for r in rows:
        print("%7d %8s ms plan %6s %s %s" % r)
