/* feedcheck.h: `esupctl check [-c CONF] [FILE...]`: validates NDJSON event feeds offline,
 * each line through the same libmonitor call POST /v1/events makes before the database
 * (mon_batch_parse, with esupd's [limits] of one event: its defaults, or CONF's). What needs
 * the database or the client certificate (duplicates, the certificate's department) is not
 * checked. One line per refused event and per warning on stdout, then a summary line. */
#ifndef ESUP_FEEDCHECK_H
#define ESUP_FEEDCHECK_H

/* argv[0] is "check". Reads the FILEs in order, stdin when none ("-" is stdin too).
 * Returns the exit status: 0 when no event was refused (warnings allowed), 1 when one was,
 * 2 on a usage error, an unreadable file or an unusable CONF. */
int feedcheck_main(int argc, char **argv);

#endif
