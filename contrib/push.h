/* push.h: `esupctl push`: sends NDJSON event feeds (files or stdin) to esupd's POST
 * /v1/events in batches over one keep-alive connection, retrying 429, 503 and lost
 * connections with backoff, and records in a state file what was acknowledged so that a rerun
 * after a crash resumes exactly there (push_state.h has the file's form). See the `push`
 * section of contrib/esupctl.1. */
#ifndef ESUP_PUSH_H
#define ESUP_PUSH_H

/* argv[0] is "push". Returns the exit status: 0 everything acknowledged and nothing rejected,
 * 1 everything acknowledged and some events rejected, 2 a usage, input, state or certificate
 * error before anything was sent, 3 stopped before the end (gave up retrying, SIGINT or
 * SIGTERM, a refusal of the whole request); the state is saved and a rerun resumes. */
int push_main(int argc, char **argv);

#endif
