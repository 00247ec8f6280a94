/* verify.h: `esupctl verify`, which checks the events' hash chain (migration 012) in the
 * database it finds like psql does: libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
 * PGSERVICE, PGPASSFILE …) or --conninfo. */
#ifndef ESUP_VERIFY_H
#define ESUP_VERIFY_H

/* argv[0] is "verify". Prints one line per department: "DEPT: intact: N events" or the first
 * broken link. Returns 0 all intact, 1 some chain broken, 2 usage or the database could not
 * be read. */
int verify_main(int argc, char **argv);

#endif
