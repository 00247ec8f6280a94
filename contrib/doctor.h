/* doctor.h: `esupctl doctor`: every check of `esupd -n` (daemon/check.c), then what an
 * operator's first hour needs beyond the configuration file: the database reachable with the
 * daemon's conninfo, its schema version against this build, the roles, the principals and
 * the reference data. Blocking libpq; one line per check on stdout, a summary line. */
#ifndef ESUP_DOCTOR_H
#define ESUP_DOCTOR_H

/* argv[0] is "doctor". Returns the exit status: 0 when nothing failed (warnings allowed),
 * 1 when a check failed, 2 on a usage error. */
int doctor_main(int argc, char **argv);

#endif
