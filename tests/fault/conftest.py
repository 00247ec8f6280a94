"""The fault suites use the integration tests' fixtures (tests/integration/conftest.py: the
PostgreSQL cluster, certificates, databases, esupd processes) and their helpers (esupclient,
oracle). That conftest is loaded here under its own module name, esup_fixtures, so that both
directories can each keep a conftest.py."""

import importlib.util
import os
import sys
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"

# Durability is what these suites test: their clusters keep fsync on (the integration suite's
# turn it off for speed; see Cluster.init).
os.environ.setdefault("ESUP_TEST_PG_FSYNC", "on")
sys.path.insert(0, str(INTEGRATION))

_spec = importlib.util.spec_from_file_location("esup_fixtures", INTEGRATION / "conftest.py")
esup_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = esup_fixtures
_spec.loader.exec_module(esup_fixtures)

# Fixtures and the report hook, re-exported for pytest to find.
from esup_fixtures import (certs, daemon_factory, db, pg, pytest_runtest_makereport,  # noqa: E402,F401
                           refdb, testdir, workdir)
