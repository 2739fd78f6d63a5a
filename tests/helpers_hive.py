"""A real HiveServer2 for the tests: the Spark Thrift Server inside the PyPI `pyspark` package.

`HiveServer(auth)` starts `org.apache.spark.sql.hive.thriftserver.HiveThriftServer2` with its own
Derby metastore and warehouse in a fresh temporary directory (two servers on one metastore fail),
on a free port bound to 127.0.0.1, with `hive.server2.authentication` set to `auth`:
- NOSASL: plain Thrift, no SASL;
- NONE: SASL PLAIN, any user and password accepted;
- CUSTOM: SASL PLAIN checked by `PasswordAuthenticator` below (compiled with `javac` at start).
  LDAP mode is the same SASL PLAIN exchange on the wire (the server hands user and password to its
  LDAP provider instead); no LDAP directory can run here, so the password check is this small
  Hive `PasswdAuthenticationProvider`, and clients connect with `auth=LDAP` exactly as in
  production.
`spark.sql.thriftServer.incrementalCollect=true` keeps the server's memory flat on large results.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time

THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
HIVE_USER = "edu_reader"
HIVE_PASSWORD = "hive-test-pw-7f3a9c"

AUTHENTICATOR_JAVA = textwrap.dedent("""\
    import javax.security.sasl.AuthenticationException;
    import org.apache.hive.service.auth.PasswdAuthenticationProvider;

    /** Accepts exactly the user and password given to the server in its environment. */
    public class PasswordAuthenticator implements PasswdAuthenticationProvider {
        @Override
        public void Authenticate(String user, String password) throws AuthenticationException {
            if (!System.getenv("EDU_MLM_TEST_HIVE_USER").equals(user)
                    || !System.getenv("EDU_MLM_TEST_HIVE_PASSWORD").equals(password)) {
                throw new AuthenticationException("Error validating the login of " + user);
            }
        }
    }
    """)


def spark_home():
    import pyspark

    return os.path.dirname(pyspark.__file__)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _compile_authenticator(workdir):
    source = os.path.join(workdir, "PasswordAuthenticator.java")
    with open(source, "w") as f:
        f.write(AUTHENTICATOR_JAVA)
    jars = os.path.join(spark_home(), "jars", "*")
    subprocess.run(["javac", "-cp", jars, "-d", os.path.join(workdir, "classes"), source],
                   check=True, capture_output=True, timeout=120)
    return os.path.join(workdir, "classes")


class HiveServer:
    """Start with `start()`, stop with `stop()`; `url(...)` gives a `hive://` SQLAlchemy URL."""

    def __init__(self, auth="NOSASL"):
        self.auth = auth
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix=f"edu-mlm-hive-{auth.lower()}-")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.process = None
        self.started = None
        self.start_seconds = None

    def command(self):
        home = spark_home()
        derby = os.path.join(self.workdir, "metastore_db")
        cmd = [
            os.path.join(home, "bin", "spark-submit"), "--class", THRIFT_SERVER_CLASS,
            "--master", "local[1]", "--name", f"edu-mlm-test-hive-{self.auth}",
            "--conf", "spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
                      f"-Dderby.system.home={self.workdir}",
            "--conf", "spark.driver.memory=768m",
            "--conf", f"spark.sql.warehouse.dir={os.path.join(self.workdir, 'warehouse')}",
            "--conf", "spark.hadoop.javax.jdo.option.ConnectionURL="
                      f"jdbc:derby:;databaseName={derby};create=true",
            "--conf", "spark.sql.thriftServer.incrementalCollect=true",
            "--conf", "spark.ui.enabled=false",
            "--hiveconf", f"hive.server2.thrift.port={self.port}",
            "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
            "--hiveconf", f"hive.server2.authentication={self.auth}",
        ]
        if self.auth == "CUSTOM":
            classes = _compile_authenticator(self.workdir)
            cmd[1:1] = ["--driver-class-path", classes]
            cmd += ["--hiveconf",
                    "hive.server2.custom.authentication.class=PasswordAuthenticator"]
        return cmd

    def start(self, timeout=180):
        return self.launch().wait_ready(timeout)

    def launch(self):
        """Start the JVM without waiting (several servers can then start side by side)."""
        self.started = time.monotonic()
        env = dict(os.environ, SPARK_HOME=spark_home(), SPARK_LOCAL_IP="127.0.0.1",
                   SPARK_LOG_DIR=self.workdir, EDU_MLM_TEST_HIVE_USER=HIVE_USER,
                   EDU_MLM_TEST_HIVE_PASSWORD=HIVE_PASSWORD)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), cwd=self.workdir, env=env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self

    def wait_ready(self, timeout=180):
        """Wait until the Thrift port accepts connections; `start_seconds` says how long."""
        while time.monotonic() - self.started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"Spark Thrift Server exited with {self.process.returncode}; "
                                   f"log: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                self.start_seconds = time.monotonic() - self.started
                return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Spark Thrift Server not listening after {timeout} s: "
                           f"{self.log_tail()}")

    def log_tail(self, lines=20):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self):
        if self.process and self.process.poll() is None:
            # spark-submit runs the JVM in its own session: signal that group, by this PID only.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def connect_kwargs(self):
        kwargs = {"host": "127.0.0.1", "port": self.port, "auth": self.auth}
        if self.auth == "CUSTOM":
            kwargs.update(auth="LDAP", username=HIVE_USER, password=HIVE_PASSWORD)
        return kwargs

    def url(self, auth=None, user=None, password=None, database="default"):
        """A hive:// URL; for the CUSTOM server the client speaks LDAP (same SASL PLAIN)."""
        auth = auth or ("LDAP" if self.auth == "CUSTOM" else self.auth)
        credentials = ""
        if user:
            credentials = user + (f":{password}" if password else "") + "@"
        return f"hive://{credentials}127.0.0.1:{self.port}/{database}?auth={auth}"

    def sql(self, *statements):
        """Run statements as the admin; returns the rows of the last one (if any)."""
        from pyhive import hive

        connection = hive.connect(**self.connect_kwargs())
        try:
            cursor = connection.cursor()
            rows = None
            for statement in statements:
                cursor.execute(statement)
                rows = cursor.fetchall() if cursor.description else None
            return rows
        finally:
            connection.close()
