"""Generates and runs the hostile manifests of tests/hostile (see run.sh).

Each case writes its files into a fresh directory, runs `berth ARGS` there
with a clean environment, and checks the exit code and that stderr has
the expected lines (substrings, in order), within the time and memory
bounds, with no control character besides newline and tab in the output.
"""
import os
import re
import resource
import stat
import subprocess
import sys
import time

TIME_LIMIT = 5.0          # seconds of wall clock per case
RSS_LIMIT = 512 << 20     # bytes of resident memory per case
AS_LIMIT = 2 << 30        # address space (ulimit -v) of an unsanitized berth
WATCHDOG = 60             # a hang is killed (and fails) after this long

CASES = []


def case(name, expect, args="config -q", code=2, sanitized=True):
    """Declares a case: its generator writes files into the directory.
    sanitized=False: not run on a sanitized binary (said, never silent)."""
    def add(gen):
        CASES.append((name, gen, args, code, expect, sanitized))
        return gen
    return add


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def aliases(levels, first, width=10):
    """Lines "x-a: &a [*s, *s, ...]", each level aliasing the one before."""
    out, prev = [], first
    for l in levels:
        out.append(f"x-{l}: &{l} [" + ", ".join([f"*{prev}"] * width) + "]")
        prev = l
    return "\n".join(out) + "\n"


SERVICE = "services:\n  api:\n    image: hockeyhub/api\n"


@case("alias-1mib-scalar",
      ["compose.yaml:3:", "the alias *a expands the document past 64 MiB"])
def _(d):
    # The review's case: a 1 MiB scalar through three levels of ten
    # aliases took 4.2 GB.
    write(d, "compose.yaml", 'x-s: &s "' + "x" * (1 << 20) + '"\n' +
          aliases("abc", "s") + SERVICE)


@case("billion-laughs",
      ["the alias *f expands the document past a million nodes"])
def _(d):
    write(d, "compose.yaml", "x-l: &l lol\n" + aliases("abcdefghi", "l", 9) + SERVICE)


@case("alias-depth",
      ["nests the document deeper than 256 levels"])
def _(d):
    lines = ["x-a0: &a0 x"]
    for i in range(1, 40):
        lines.append(f"x-a{i}: &a{i} " + "[" * 8 + f"*a{i - 1}" + "]" * 8)
    write(d, "compose.yaml", "\n".join(lines) + "\n" + SERVICE)


@case("include-itself-six-times",
      ["include[0]: include/extends form a cycle: compose.yaml -> compose.yaml"] +
      [f"include[{i}]: include/extends form a cycle" for i in range(1, 6)] +
      ["berth: 6 errors in the manifest"])
def _(d):
    # The review's case: ran 135 s, took 3.4 GB, printed 12 million lines.
    write(d, "compose.yaml", "include:\n" + "  - compose.yaml\n" * 6 + SERVICE)


@case("include-ring-of-files",
      ["include/extends form a cycle: compose.yaml -> r1.yaml -> r2.yaml -> r3.yaml -> "
       "compose.yaml", "berth: 1 error in the manifest"])
def _(d):
    write(d, "compose.yaml", "include: [r1.yaml]\n" + SERVICE)
    for i in range(1, 4):
        nxt = f"r{i + 1}.yaml" if i < 3 else "compose.yaml"
        write(d, f"r{i}.yaml", f"include: [{nxt}]\n")


@case("include-doubling-tree",
      ["more than 256 files read through include and extends",
       "berth: 1 error in the manifest"])
def _(d):
    # No cycle: each level includes the next one twice, 2^8 files.
    write(d, "compose.yaml", "include: [l1.yaml, l1.yaml]\n" + SERVICE)
    for i in range(1, 8):
        write(d, f"l{i}.yaml", f"include: [l{i + 1}.yaml, l{i + 1}.yaml]\n")
    write(d, "l8.yaml", "x-leaf: 1\n")


@case("extends-ring-across-files",
      ["include/extends form a cycle: compose.yaml -> b.yaml -> compose.yaml",
       "berth: 1 error in the manifest"])
def _(d):
    write(d, "compose.yaml",
          "services:\n  a:\n    extends: {file: b.yaml, service: b}\n")
    write(d, "b.yaml",
          "services:\n  b:\n    extends: {file: compose.yaml, service: a}\n")


@case("extends-4mib-base-1000-times",
      ["extends: this extends (a copy of base) would take the manifest past 128 MiB",
       "berth: 1 error in the manifest"])
def _(d):
    text = ("services:\n  base:\n    image: x\n    environment:\n      BIG: \"" +
            "x" * (4 << 20) + "\"\n")
    text += "".join(f"  s{i}:\n    extends: base\n" for i in range(1000))
    write(d, "compose.yaml", text)


@case("variable-1mib-used-1000-times",
      ["interpolating this value would take the manifest past 128 MiB",
       "berth: 1 error in the manifest"])
def _(d):
    write(d, ".env", "X=" + "y" * ((1 << 20) - 16) + "\n")
    write(d, "compose.yaml", "services:\n  api:\n    image: x\n    environment:\n" +
          "".join(f"      V{i}: ${{X}}\n" for i in range(1000)))


@case("env-file-fifo",
      ["services.api.env_file: CASE/pipe.env is a named pipe (FIFO), not a regular file"])
def _(d):
    os.mkfifo(os.path.join(d, "pipe.env"))
    write(d, "compose.yaml", SERVICE + "    env_file: pipe.env\n")


@case("dotenv-fifo",
      ["CASE/.env is a named pipe (FIFO), not a regular file"])
def _(d):
    os.mkfifo(os.path.join(d, ".env"))
    write(d, "compose.yaml", SERVICE)


@case("manifest-fifo",
      ["CASE/pipe.yaml is a named pipe (FIFO), not a regular file"],
      args="-f pipe.yaml config -q")
def _(d):
    os.mkfifo(os.path.join(d, "pipe.yaml"))


@case("manifest-device", ["/dev/zero is a device, not a regular file"],
      args="-f /dev/zero config -q")
def _(d):
    pass


@case("include-fifo",
      ["include[0]: CASE/pipe.yaml is a named pipe (FIFO), not a regular file"])
def _(d):
    os.mkfifo(os.path.join(d, "pipe.yaml"))
    write(d, "compose.yaml", "include: [pipe.yaml]\n" + SERVICE)


# Not under ASan for now: the model's arrays grow one element per
# realloc (berth__grow, manifest-value.c), and ASan's realloc always
# copies, so reading 10,000 services takes 34 s there (0.5 s once they
# grow geometrically); plain builds are not affected.
@case("services-50000", [], code=0, sanitized=False)
def _(d):
    # Accepted: 50,000 services, each depending on the one before (loading
    # was quadratic: 34 s). bench/manifest-parse.sh --scale times it.
    write(d, "compose.yaml", "services:\n  s0:\n    image: img\n" +
          "".join(f"  s{i}:\n    image: img\n    depends_on: [s{i - 1}]\n"
                  for i in range(1, 50000)))


@case("override-resets-50000", [], args="-f compose.yaml -f reset.yaml config -q", code=0,
      sanitized=False)
def _(d):
    # Accepted: an override resetting 50,000 services one by one (each
    # reset moved all the others and rebuilt the index: 35 s).
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  s{i}:\n    image: img\n" for i in range(50000)))
    write(d, "reset.yaml", "services:\n" + "".join(f"  s{i}: !reset null\n" for i in range(50000)) +
          "  keep:\n    image: img\n")



# The checks after reading (core/manifest-check.c) compared services
# pairwise or scanned a list per dependency; these keep them linear.
@case("ports-deps-50000", [], code=0, sanitized=False)
def _(d):
    # Accepted: 50,000 services, each publishing its own host port and
    # depending on the one before (the duplicate-port check was pairwise:
    # 19.7 s).
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  s{i}:\n    image: img\n    ports: ['{10000 + i}:80']\n" +
                  (f"    depends_on: [s{i - 1}]\n" if i else "")
                  for i in range(50000)))


@case("same-port-50000",
      ["compose.yaml:7:", "services.s1.ports[0]: host port 127.0.0.1:8080/tcp is also published "
       "by services.s0 (line 4)", "berth: 49999 errors in the manifest"], sanitized=False)
def _(d):
    # Refused: 50,000 services on one host port, one error each (not one
    # per pair: 1.25 billion).
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  s{i}:\n    image: img\n    ports: ['8080:80']\n" for i in range(50000)))


@case("addresses-50000", [], code=0, sanitized=False)
def _(d):
    # Accepted: 50,000 services on one port, each on its own loopback
    # address (compared pairwise, or by a sweep over the port alone: 24 s).
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  s{i}:\n    image: img\n    ports: ['127.1.{i // 250}.{i % 250 + 1}:8080:80']\n"
                  for i in range(50000)))


@case("profiles-dropped-25000", [], code=0, sanitized=False)
def _(d):
    # Accepted: 25,000 services left out by their profile, each an
    # optional dependency of an active one (the dropped list was scanned
    # per dependency: 5.3 s).
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  d{i}:\n    image: img\n    profiles: [off]\n"
                  f"  s{i}:\n    image: img\n    depends_on:\n"
                  f"      d{i}: {{condition: service_started, required: false}}\n"
                  for i in range(25000)))


@case("profiles-25000-none-selected",
      ["the profile \"nosuch\" selects no service; profiles in use are those listed under the "
       "services' profiles: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, "
       "p15, p16, p17, p18, p19 and 24980 more", "berth: 1 error in the manifest"],
      args="config -q --profile nosuch", sanitized=False)
def _(d):
    # Refused: a profile no service has, among 25,000 distinct ones (the
    # list of those in use was deduplicated pairwise: 4 s, then out of
    # memory past 64 KiB of names).
    write(d, "compose.yaml", "services:\n  main:\n    image: img\n" +
          "".join(f"  s{i}:\n    image: img\n    profiles: [p{i}]\n" for i in range(25000)))


@case("cycles-167-in-50000",
      ["services.s1.depends_on: dependency cycle: s0 -> s1 -> s0",
       "services.s49801.depends_on: dependency cycle: s49800 -> s49801 -> s49800",
       "berth: 167 errors in the manifest"], sanitized=False)
def _(d):
    # Refused: 167 two-service cycles among 50,000 services (the graph
    # was rebuilt for each cycle reported: 1.8 s).
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  s{i}:\n    image: img\n    depends_on: [s{i - 1 if i % 300 else i + 1}]\n"
                  for i in range(50000)))


@case("extends-unknown-25000",
      ["services.s0.extends: no service named \"nosuch0\" to extend",
       "berth: 25000 errors in the manifest"], sanitized=False)
def _(d):
    # Refused: 25,000 services extending nothing, each a dependency (the
    # failed ones were scanned once per service: 1 s), one error each.
    write(d, "compose.yaml", "services:\n" +
          "".join(f"  s{i}:\n    extends: nosuch{i}\n  t{i}:\n    image: img\n"
                  f"    depends_on: [s{i}]\n" for i in range(25000)))

def sanitized(berth):
    try:
        out = subprocess.run(["ldd", berth], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "libasan" in out or "libubsan" in out


def run(berth, work, name, gen, args, code, expect):
    d = os.path.join(work, name)
    os.mkdir(d)
    gen(d)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": d, "NO_COLOR": "1"}
    asan = sanitized(berth)
    if asan:
        env["ASAN_OPTIONS"] = "hard_rss_limit_mb=2048:detect_leaks=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"

    def limit():
        if not asan:
            resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))

    start = time.monotonic()
    out_path, err_path = os.path.join(work, name + ".out"), os.path.join(work, name + ".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as errf:
        p = subprocess.Popen([berth] + args.split(), cwd=d, env=env, stdout=out, stderr=errf,
                             stdin=subprocess.DEVNULL, preexec_fn=limit)
    # wait4: the resources of this one child (its peak RSS).
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > WATCHDOG:
            p.kill()
            os.wait4(p.pid, 0)
            return [f"still running after {WATCHDOG} s: killed"], WATCHDOG, 0
        time.sleep(0.01)
    took = time.monotonic() - start
    rss = usage.ru_maxrss << 10
    returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as f:
        stdout = f.read()
    with open(err_path, "rb") as f:
        stderr = f.read()
    err = stderr.decode("utf-8", "replace").replace(d, "CASE")
    problems = []
    if returncode != code:
        problems.append(f"exit {returncode}, expected {code}")
    at = 0
    for want in expect:
        k = err.find(want, at)
        if k < 0:
            problems.append(f"stderr lacks (in order): {want}")
        else:
            at = k + len(want)
    for stream, data in (("stdout", stdout), ("stderr", stderr)):
        if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", data):
            problems.append(f"a raw control character in {stream}")
    if took > TIME_LIMIT and not asan:
        problems.append(f"took {took:.1f} s, more than {TIME_LIMIT:.0f}")
    if rss > RSS_LIMIT and not asan:
        problems.append(f"took {rss >> 20} MB, more than {RSS_LIMIT >> 20}")
    if problems:
        problems.append("stderr was:\n" + err[:2000])
    return problems, took, rss


def main():
    berth, work, names = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3:]
    known = [c[0] for c in CASES]
    for n in names:
        if n not in known:
            sys.exit(f"unknown case {n}; the cases: {', '.join(known)}")
    fail = 0
    asan = sanitized(berth)
    for name, gen, args, code, expect, under_asan in CASES:
        if names and name not in names:
            continue
        if asan and not under_asan:
            print(f"not run {name}: not under a sanitizer (see its comment)")
            continue
        problems, took, rss = run(berth, work, name, gen, args, code, expect)
        status = "FAIL" if problems else "ok  "
        print(f"{status} {name} ({took:.2f} s, {rss >> 20} MB)")
        for pr in problems:
            print("     " + pr.replace("\n", "\n     "))
        fail |= bool(problems)
    sys.exit(1 if fail else 0)


main()
