#!/usr/bin/python3
"""The e2e system test's host side: boots the managed Debian guest (systemd, then stackmgr) and
the peer guest under qemu, drives the managed guest's console, and checks each step of
docs/e2e.md on what an admin would see.

Every step prints the raw output of the commands it checks ("    | " lines), then its checks as
"ok N - ..." or "not ok N - ...". The exit status is the number of failed checks (capped at 100),
or 101 when the run had to be abandoned (a guest that does not answer). Only the Python standard
library is used.
"""

import argparse
import base64
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

MANAGED_IP = "192.0.2.1"
PEER_IP = "192.0.2.2"
NATIVE_MODULES = ["af_key", "esp4", "ah4", "xfrm_user", "xfrm4_tunnel", "esp6", "ah6",
                  "xfrm6_tunnel", "ipcomp", "ipcomp6"]
NATIVE_CORE = ["af_key", "esp4", "ah4"]
GUARD = "/run/modprobe.d/stackmgr-guard.conf"

# The managed guest's vCPUs: qemu runs one host thread per vCPU under TCG, so systemd's parallel
# start-up can use both of the host's cores (the peer idles once it is up).
MANAGED_CPUS = 2

# Bounds, in seconds, for a 2-core host shared with compilers. Each is printed where it applies.
BOOT_BOUND = 240          # qemu start (or reboot) to the console's READY
TUNNEL_BOUND = 150        # a boot's kernel start to the first ESP packet
SWITCH_TUNNEL_BOUND = 60  # `switch native --yes` to the first ESP packet
RESTART_BOUND = 60        # kill -9 of the supervisor to a new supervisor with the tunnel back
UPGRADE_TUNNEL_BOUND = 60 # apt-get install of the upgrade to the first ESP packet after it


class Abandon(Exception):
    """The run cannot go on (a guest stopped answering)."""


def now():
    return time.time()


def first_line(text, width=160):
    """The first non-empty line of `text`, cut to `width` characters."""
    lines = [line for line in str(text).split("\n") if line.strip()]
    return lines[0][:width] if lines else ""


def indent(text):
    text = text.rstrip("\n")
    if not text:
        return "    | (no output)"
    return "\n".join("    | " + line for line in text.split("\n"))


class Report:
    def __init__(self):
        self.t0 = now()
        self.n = 0
        self.failed = []
        self.facts = []

    def note(self, text):
        for line in str(text).split("\n"):
            print("# " + line, flush=True)

    def step(self, title):
        print(f"\n=== {title}   [{now() - self.t0:.0f} s into the run]", flush=True)

    def check(self, desc, ok, detail=None):
        self.n += 1
        if ok:
            print(f"ok {self.n} - {desc}", flush=True)
        else:
            print(f"not ok {self.n} - {desc}", flush=True)
            if detail:
                for line in str(detail).rstrip("\n").split("\n"):
                    print("#   " + line, flush=True)
            self.failed.append((self.n, desc, detail))
        return ok

    def fact(self, text):
        self.facts.append(text)
        print("FACT " + text, flush=True)


class Guest:
    """A qemu guest and the console (e2e-shell on its ttyS1) the test drives. Each boot is one
    qemu process: a guest that reboots makes qemu exit (-no-reboot) and start() powers it on
    again from the same disk. (A warm reset inside one qemu process re-boots the kernel with
    the previous boot's translated code still cached, which made the next kernel's start-up
    up to 100 s slower under TCG: cold boots keep every boot comparable.)"""

    def __init__(self, name, argv_for, rundir):
        self.name = name
        self.argv_for = argv_for  # boot number (1, 2, ...) -> qemu argv
        self.rundir = rundir
        self.sock_path = os.path.join(rundir, f"{name}-shell.sock")
        self.boot = 0
        self.proc = None
        self.sock = None
        self.buf = b""
        self.lock = threading.Condition()
        self.closed = False
        self.seq = 0
        self.log = open(os.path.join(rundir, f"{name}-shell.log"), "ab")
        self.ready = []  # (boot_id, uptime, host time) of each READY seen

    def start(self):
        self.boot += 1
        env = dict(os.environ, TMPDIR=self.rundir)
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        with self.lock:
            self.closed = False
            self.buf = b""
        with open(os.path.join(self.rundir, f"{self.name}-qemu-{self.boot}.out"), "wb") as out:
            self.proc = subprocess.Popen(self.argv_for(self.boot), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = now() + 30
        while True:
            if self.proc.poll() is not None:
                raise Abandon(f"{self.name}: qemu exited at once with {self.proc.returncode}: "
                              + self.qemu_output())
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock_path)
                self.sock = s
                break
            except OSError:
                s.close()
                if now() > deadline:
                    raise Abandon(f"{self.name}: qemu's console socket {self.sock_path} never appeared")
                time.sleep(0.05)
        threading.Thread(target=self._reader, args=(self.sock,), daemon=True).start()

    def wait_exit(self, bound):
        """Wait for this boot's qemu to exit (the guest rebooted or powered off)."""
        try:
            self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            raise Abandon(f"{self.name}: the guest did not go down within {bound} s") from None

    def qemu_output(self):
        try:
            with open(os.path.join(self.rundir, f"{self.name}-qemu-{self.boot}.out"), "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    def _reader(self, sock):
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            t = now()
            with self.lock:
                if sock is not self.sock:
                    return
                if not data:
                    self.closed = True
                    self.lock.notify_all()
                    return
                self.log.write(data)
                self.log.flush()
                self.buf += data
                # READY lines are consumed here, with the time they arrived.
                while True:
                    m = re.search(rb"E2E-READY ([0-9a-f-]+) ([0-9.]+)\n", self.buf)
                    if not m:
                        break
                    self.ready.append((m.group(1).decode(), float(m.group(2)), t))
                    self.buf = self.buf[:m.start()] + self.buf[m.end():]
                self.lock.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, bound, not_boots=()):
        """Wait for the console's READY from a boot not in `not_boots`; return the first such
        (boot_id, uptime, host_time). A console restarted within a boot says READY again with
        the same boot id: that is not a new boot."""
        deadline = now() + bound
        with self.lock:
            while True:
                for entry in self.ready:
                    if entry[0] not in not_boots:
                        return entry
                if self.closed or not self.alive():
                    raise Abandon(f"{self.name}: qemu is gone while waiting for the console")
                left = deadline - now()
                if left <= 0:
                    raise Abandon(f"{self.name}: no console within {bound} s")
                self.lock.wait(min(left, 1.0))

    def run(self, script, timeout=60):
        """Run a bash script in the guest; return (exit status, output)."""
        self.seq += 1
        rid = f"{self.seq}x{os.getpid()}"
        b64 = base64.b64encode(script.encode()).decode()
        begin = f"E2E-BEGIN {rid}\n".encode()
        end_re = re.compile(rb"\nE2E-END " + rid.encode() + rb" (\d+)\n")
        with self.lock:
            self.buf = b""
        try:
            self.sock.sendall(f"{rid} {int(timeout)} {b64}\n".encode())
        except OSError as e:
            raise Abandon(f"{self.name}: cannot write to the console ({e}): the guest is gone") from None
        deadline = now() + timeout + 30
        with self.lock:
            while True:
                i = self.buf.find(begin)
                if i >= 0:
                    m = end_re.search(self.buf, i)
                    if m:
                        payload = self.buf[i + len(begin):m.start()]
                        rc = int(m.group(1))
                        self.buf = self.buf[m.end():]
                        out = base64.b64decode(payload).decode(errors="replace")
                        return rc, out
                if self.closed or not self.alive():
                    raise Abandon(f"{self.name}: the guest went away during: {script.strip()[:200]}")
                left = deadline - now()
                if left <= 0:
                    raise Abandon(f"{self.name}: no answer within {timeout + 30} s to: {script.strip()[:200]}")
                self.lock.wait(min(left, 1.0))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()


def read_pcaps(paths):
    """read_pcap of each file, in order."""
    out = []
    for path in paths:
        out.extend(read_pcap(path))
    return out


def read_pcap(path):
    """(host time, ip proto, src, dst, udp dport or ESP SPI or None, length) of each IPv4 frame in
    a pcap written by qemu's filter-dump (Ethernet frames, microsecond timestamps)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0xA1B2C3D4 else ">"
    out = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        proto = frame[23]
        src = socket.inet_ntoa(frame[26:30])
        dst = socket.inet_ntoa(frame[30:34])
        dport = None
        if proto == 17 and len(frame) >= 14 + ihl + 4:
            dport = struct.unpack(">H", frame[14 + ihl + 2:14 + ihl + 4])[0]
        elif proto == 50 and len(frame) >= 14 + ihl + 4:
            dport = struct.unpack(">I", frame[14 + ihl:14 + ihl + 4])[0]
        out.append((sec + usec / 1e6, proto, src, dst, dport, len(frame)))
    return out


def first_packet(pcaps, after, proto, src=None, dport=None):
    for t, p, s, _d, dp, _l in read_pcaps(pcaps):
        if t >= after and p == proto and (src is None or s == src) and (dport is None or dp == dport):
            return t
    return None


def first_new_esp(pcaps, after):
    """Host time of the first ESP packet the managed guest sent at or after `after` on an SA (SPI)
    that carried nothing before `after`: a tunnel that was (re-)established, not the old SAs'
    last packets."""
    old = set()
    for t, p, s, _d, spi, _l in read_pcaps(pcaps):
        if p != 50 or s != MANAGED_IP:
            continue
        if t < after:
            old.add(spi)
        elif spi not in old:
            return t
    return None


def wait_first_esp(pcaps, after, bound):
    """first_new_esp(pcaps, after), waiting up to `bound` seconds past `after`; None when there
    is none by then."""
    while True:
        t = first_new_esp(pcaps, after)
        if t is not None:
            return t
        if now() > after + bound:
            return None
        time.sleep(0.25)


class E2E:
    def __init__(self, args):
        self.a = args
        self.r = Report()
        self.rundir = args.run_dir
        self.pcap = []  # the managed guest's NIC, one pcap per boot (qemu's filter-dump)
        self.boot_ids = []  # the managed guest's boots so far
        self.boot_to_tunnel = {}
        self.managed = None
        self.peer = None

    # --- qemu ---------------------------------------------------------------------------------
    def qemu_argv(self, name, mac, local, remote, append, extra, mem, cpus, console):
        accel = ["-accel", self.a.accel] + (["-cpu", "host"] if self.a.accel == "kvm" else [])
        return ["timeout", "--kill-after=5", str(self.a.guest_bound), "qemu-system-x86_64",
                *accel, "-m", mem, "-smp", str(cpus), "-nodefaults", "-no-user-config",
                "-display", "none",
                "-kernel", self.a.kernel, "-initrd", self.a.initrd,
                "-append", "console=ttyS0,115200 root=/dev/vda rw net.ifnames=0 " + append,
                "-no-reboot",
                "-netdev", f"dgram,id=n0,local.type=unix,local.path={local},"
                           f"remote.type=unix,remote.path={remote}",
                "-device", f"virtio-net-pci,netdev=n0,mac={mac}",
                "-device", "virtio-rng-pci",
                "-serial", f"file:{console}",
                "-chardev", f"socket,id=shell,path={os.path.join(self.rundir, name + '-shell.sock')},"
                            "server=on,wait=off",
                "-serial", "chardev:shell", *extra]

    def start_guests(self):
        net_m = os.path.join(self.rundir, "net-managed.sock")
        net_p = os.path.join(self.rundir, "net-peer.sock")
        peer_argv = self.qemu_argv(
            "peer", "52:54:00:e2:e0:02", net_p, net_m, "init=/usr/local/sbin/e2e-peer-init panic=-1",
            ["-drive", f"file={self.a.disk},format=raw,if=virtio,snapshot=on",
             "-serial", f"file:{os.path.join(self.rundir, 'peer-pluto.log')}"], "512M", 1,
            os.path.join(self.rundir, "peer-console.log"))
        # The managed guest's disk: a qcow2 overlay on the cached image, kept across its boots.
        overlay = os.path.join(self.rundir, "managed.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", self.a.disk, "-F", "raw", overlay],
                       check=True)

        def managed_argv(boot):
            pcap = os.path.join(self.rundir, f"managed-{boot}.pcap")
            self.pcap.append(pcap)
            return self.qemu_argv(
                "managed", "52:54:00:e2:e0:01", net_m, net_p, "panic=-1",
                ["-drive", f"file={overlay},format=qcow2,if=virtio",
                 "-drive", f"file={self.a.debs},format=raw,if=virtio,readonly=on",
                 "-object", f"filter-dump,id=dump0,netdev=n0,file={pcap}"], "1024M", MANAGED_CPUS,
                os.path.join(self.rundir, f"managed-console-{boot}.log"))

        self.peer = Guest("peer", lambda boot: peer_argv, self.rundir)
        self.managed = Guest("managed", managed_argv, self.rundir)
        self.peer.start()
        # The managed guest starts once the peer answers, so that its boots (Debian's and
        # stackmgr's) never share the CPU with the peer's boot: their times compare.
        self.step_peer()
        self.managed.start()

    # --- helpers --------------------------------------------------------------------------------
    def sh(self, script, timeout=60, guest=None, show=True, title=None):
        """Run `script` in a guest, print the command and its raw output, return (rc, out)."""
        g = guest or self.managed
        rc, out = g.run(script, timeout)
        if show:
            label = title or script.strip()
            prefix = "" if g is self.managed else f"[{g.name}] "
            print(f"{prefix}# {label}".replace("\n", "\n#   ") + f"   (exit {rc})", flush=True)
            print(indent(out), flush=True)
        return rc, out

    def wait_until(self, script, done, bound, guest=None):
        """Run `script` every second until done(rc, out) or `bound` seconds; print the last run."""
        deadline = now() + bound
        while True:
            rc, out = (guest or self.managed).run(script, 60)
            if done(rc, out) or now() > deadline:
                return self.sh(script, guest=guest)
            time.sleep(1)

    def reboot(self):
        """`systemctl reboot`, a second after the console has answered (the reboot stops it);
        qemu exits at the reset (-no-reboot) and the same disk is powered on again."""
        self.sh("systemd-run --quiet --on-active=1 systemctl reboot", title="systemctl reboot   (in a second)")
        self.managed.wait_exit(BOOT_BOUND)
        self.managed.start()

    def wait_boot(self, what):
        """Wait for the managed guest's next console READY; return the host time of its kernel
        start (READY's host arrival time less the guest's uptime then)."""
        boot_id, uptime, t_host = self.managed.wait_ready(BOOT_BOUND, self.boot_ids)
        self.boot_ids.append(boot_id)
        kernel_start = t_host - uptime
        self.r.note(f"{what}: boot {boot_id}, console up {uptime:.1f} s after the kernel started")
        return boot_id, kernel_start

    def system_running(self):
        rc, out = self.sh("systemctl is-system-running --wait", timeout=180)
        ok = out.strip() == "running"
        if not ok:
            self.sh("systemctl --failed --no-pager")
        self.r.check("the boot finished cleanly: systemctl is-system-running says running", ok)
        self.sh("systemd-analyze time; systemd-analyze blame | head -n 6; "
                "dmesg | grep -E 'Run /init|EXT4-fs \\(vda\\)|systemd\\[1\\]: systemd 252|crng init'", timeout=30,
                title="systemd-analyze time; systemd-analyze blame | head -n 6; "
                      "dmesg | grep -E 'Run /init|EXT4-fs (vda)|systemd 252|crng init'")

    def tunnel_after_boot(self, label, kernel_start, unit):
        """Wait for the first ESP packet of this boot; print the times from the kernel's start and
        from the IPsec unit's start (systemd's InactiveExitTimestampMonotonic, on the host's
        clock through kernel_start) to it, and return both (None when no ESP came)."""
        t = wait_first_esp(self.pcap, kernel_start, TUNNEL_BOUND)
        ike = first_packet(self.pcap, kernel_start, 17, src=MANAGED_IP, dport=500)
        if t is None:
            self.r.check(f"{label}: an ESP packet left the guest within {TUNNEL_BOUND} s of the kernel's start",
                         False, "no ESP packet from 192.0.2.1 in the managed guest's pcap")
            return None
        rc, out = self.sh(f"systemctl show {unit} -p InactiveExitTimestampMonotonic --value")
        unit_start = kernel_start + int(out.strip()) / 1e6 if out.strip().isdigit() else None
        ike_txt = f"first IKE packet at {ike - kernel_start:.1f} s, " if ike else ""
        unit_txt = (f"; {unit} started at {unit_start - kernel_start:.1f} s, {t - unit_start:.1f} s before it"
                    if unit_start else "")
        self.r.note(f"{label}: {ike_txt}first ESP packet at {t - kernel_start:.1f} s after the kernel started{unit_txt}")
        self.r.check(f"{label}: the tunnel carried ESP within {TUNNEL_BOUND} s of the kernel's start "
                     f"({t - kernel_start:.1f} s)", True)
        return t - kernel_start, (t - unit_start if unit_start else None)

    def trafficstatus(self):
        rc, out = self.sh("ipsec trafficstatus")
        m = re.search(r'type=ESP.*inBytes=(\d+), outBytes=(\d+)', out)
        return rc, out, m

    def esp_counters(self):
        """`ip -s xfrm state` and the (bytes, packets) each state carried: the pair under its
        "lifetime current:" (the "lifetime config:" limits are printed in the same units)."""
        rc, out = self.sh("ip -s xfrm state")
        current = [(int(a), int(b)) for a, b in
                   re.findall(r"lifetime current:\s*\n\s*(\d+)\(bytes\), (\d+)\(packets\)", out)]
        return out, current

    def ping(self, count=5):
        rc, out = self.sh(f"ping -c {count} -i 0.2 -W 2 {PEER_IP}", timeout=30)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        return rc == 0 and m is not None and m.group(2) != "0", out

    def main_pid(self):
        rc, out = self.sh("systemctl show -p MainPID --value stackmgr.service", show=False)
        return out.strip()

    def processes(self, name):
        """[(pid, ppid)] of the processes named `name` (pgrep -x), or whose command line holds
        `name` when it contains a slash."""
        sel = f"-f {shlex.quote(name)}" if "/" in name else f"-x {shlex.quote(name)}"
        rc, out = self.sh(f"for p in $(pgrep {sel}); do ps -o pid=,ppid=,args= -p $p; done", show=False)
        res = []
        for line in out.strip().split("\n"):
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                res.append((parts[0], parts[1]))
        return res

    def loaded_modules(self):
        rc, out = self.sh("cut -d' ' -f1 /proc/modules | sort", show=False)
        return set(out.split())

    # --- the steps ------------------------------------------------------------------------------
    def step_peer(self):
        self.r.step("the peer: its own kernel, its own pluto (not managed by stackmgr)")
        self.peer.wait_ready(BOOT_BOUND)
        self.sh("uname -r; ip -br addr show eth0; lsmod | grep -E '^(esp4|xfrm_user|authenc) '; "
                "ps -o pid,ppid,args -C pluto", guest=self.peer)
        rc, out = self.wait_until("ipsec whack --status | grep -E '^000 (interface eth0|\"e2e\":.*(===|IKE))'",
                                  lambda rc, out: '"e2e"' in out and "eth0" in out, 60, guest=self.peer)
        self.r.check("the peer's pluto listens on eth0 with conn e2e loaded", '"e2e"' in out and "eth0" in out)
        rc, out = self.sh("ip xfrm policy list dir in proto icmp", guest=self.peer)
        self.r.check("the peer takes ICMP from 192.0.2.1 only through ESP (a cleartext ping is not answered)",
                     "src 192.0.2.1/32 dst 192.0.2.2/32 proto icmp" in out and "proto esp" in out, out)

    def step_debian_boot(self):
        self.r.step("5. Debian's own ipsec.service (libreswan 4.10, as the package ships it), first boot of the image")
        _, ks = self.wait_boot("boot 1 (Debian's ipsec.service)")
        self.system_running()
        self.boot_to_tunnel["debian"] = self.tunnel_after_boot("Debian's ipsec.service", ks, "ipsec.service")
        self.sh("systemctl status --no-pager ipsec.service | head -n 12; "
                "systemctl is-enabled stackmgr.service 2>&1 || true")
        rc, out, m = self.trafficstatus()
        self.r.check("Debian's ipsec.service: ipsec trafficstatus shows the tunnel (type=ESP)", m is not None)

    def step_install(self):
        self.r.step("install: the admin replaces ipsec.service by stackmgr: apt-get install ./stackmgr_*.deb")
        self.sh("systemctl disable --now ipsec.service", timeout=60)
        self.sh("mkdir -p /root/debs && mount -o ro /dev/vdb /mnt && cp /mnt/v1/*.deb /mnt/v2/*.deb /root/debs/ "
                "&& umount /mnt && ls -l /root/debs")
        rc, out = self.sh("cd /root/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                          f"./{os.path.basename(self.a.deb_v1)}", timeout=300)
        self.r.check("apt-get install ./stackmgr_*.deb exits 0 with no network", rc == 0)
        self.r.check("postinst: enabled at boot, not started now (docs/packaging.md)",
                     "installed and enabled at boot, but not started now" in out)
        rc, out = self.sh("systemctl is-enabled stackmgr.service; systemctl is-active stackmgr.service; "
                          "systemctl is-enabled ipsec.service")
        self.r.check("stackmgr.service enabled, not active; ipsec.service disabled",
                     out.split() == ["enabled", "inactive", "disabled"], out)
        # The admin's config: the default pluto on native; on KLIPS the e2e's stand-in daemon
        # (the KLIPS module is a test stand-in; libreswan's pluto drives only XFRM).
        rc, out = self.sh("sed -i '/^\\[daemon\\]$/a argv.klips = [\"/usr/local/sbin/e2e-klips-daemon\", \"{stack}\"]' "
                          "/etc/stackmgr/stackmgr.toml && grep -n -A1 '^\\[daemon\\]' /etc/stackmgr/stackmgr.toml "
                          "&& stackmgr status")
        self.r.check("the config with the KLIPS daemon is valid (stackmgr status: 3, not running)", rc == 3, out)
        self.reboot()

    def step_a_boot(self):
        self.r.step("a. boot with stackmgr.service")
        _, ks = self.wait_boot("boot 2 (stackmgr.service)")
        self.system_running()
        self.boot_to_tunnel["stackmgr"] = self.tunnel_after_boot("stackmgr.service", ks, "stackmgr.service")
        rc, out = self.sh("systemctl is-active stackmgr.service")
        self.r.check("systemctl is-active stackmgr.service prints active", out.strip() == "active")
        rc, out = self.sh("systemctl show stackmgr.service -p Type -p NotifyAccess -p MainPID -p StatusText "
                          "-p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic")
        props = dict(line.split("=", 1) for line in out.strip().split("\n") if "=" in line)
        plutos = self.processes("pluto")
        self.sh("ps -o pid,ppid,args -C stackmgr,pluto")
        self.r.check("Type=notify with NotifyAccess=main: only stackmgr's own READY=1 can make the unit active",
                     props.get("Type") == "notify" and props.get("NotifyAccess") == "main", out)
        self.r.check("one pluto, and it is stackmgr's child (its parent is the unit's MainPID)",
                     len(plutos) == 1 and plutos[0][1] == props.get("MainPID"), f"pluto (pid, ppid): {plutos}")
        pid = plutos[0][0] if plutos else "?"
        self.r.check("the unit's status text is stackmgr's: the stack and pluto's pid",
                     props.get("StatusText", "").startswith(f"stack native, pluto pid {pid}"), props.get("StatusText"))
        rc, out = self.sh(f"grep CapBnd /proc/{props.get('MainPID')}/status /proc/{pid}/status; "
                          "journalctl -b -u stackmgr.service --no-pager | grep -c 'failed dropping bounding set'")
        bnd = re.findall(r"/proc/(\d+)/status:CapBnd:\s*([0-9a-f]+)", out)
        pluto_bnd = int(bnd[-1][1], 16) if len(bnd) == 2 else None
        self.r.check("pluto dropped CAP_SYS_MODULE from its bounding set (a compromised keying daemon cannot "
                     "load kernel code) and did not log 'failed dropping bounding set'",
                     pluto_bnd is not None and not pluto_bnd & (1 << 16) and out.strip().endswith("\n0"), out)
        self.sh("journalctl -b -u stackmgr.service -o short-monotonic --no-pager | "
                "grep -E 'ready|READY|Started|pluto.*(ready|listening)' | head -n 20")
        rc, out, m = self.trafficstatus()
        self.r.check("ipsec trafficstatus shows the tunnel (type=ESP)", "type=ESP" in out)
        ok, out = self.ping()
        self.r.check("ping across the tunnel succeeds", ok)
        rc, out, m = self.trafficstatus()
        self.r.check("after the ping trafficstatus shows inBytes and outBytes above 0",
                     m is not None and int(m.group(1)) > 0 and int(m.group(2)) > 0)
        out, cur = self.esp_counters()
        self.r.check("ip -s xfrm state: both ESP states counted packets",
                     len(cur) >= 2 and all(p > 0 for _, p in cur), f"current (bytes, packets): {cur}")

    def step_b_views(self):
        self.r.step("b. the state views")
        rc, out = self.sh("stackmgr look")
        spis = set(re.findall(r"0x[0-9a-f]{8}", out))
        self.r.check("stackmgr look exits 0", rc == 0)
        self.r.check("stackmgr look shows the ESP SA pair between 192.0.2.1 and 192.0.2.2",
                     out.count("esp") >= 2 and MANAGED_IP in out and PEER_IP in out and len(spis) >= 2, out)
        self.r.check("stackmgr look shows the policies (in, out, fwd)",
                     all(re.search(rf"\b{d}\b", out) for d in ("in", "out", "fwd")), out)
        rc, out = self.sh("stackmgr status")
        self.r.check("stackmgr status exits 0 (LSB: running)", rc == 0)
        self.r.check("stackmgr status says native and the daemon running",
                     re.search(r"native", out) is not None and re.search(r"pluto.*running|running.*pluto", out) is not None,
                     out)

    def xfrm_spis(self):
        rc, out = self.sh("ip xfrm state | grep -o 'spi 0x[0-9a-f]*' | sort", show=False)
        return out.split()

    def step_c_refused(self):
        self.r.step("c. switch klips with the tunnel up, from a non-terminal: refused")
        mods = self.loaded_modules()
        spis = self.xfrm_spis()
        _, before = self.esp_counters()
        rc, out = self.sh("stackmgr switch klips </dev/null")
        self.r.check("stackmgr switch klips exits 14 (tunnels up, stdin not a TTY)", rc == 14, f"exit {rc}")
        self.r.check("it says why and what to do (--yes)", "--yes" in out, out)
        self.r.check("no module changed", self.loaded_modules() == mods)
        self.r.check("the SAs are the same (same SPIs)", self.xfrm_spis() == spis)
        ok, _ = self.ping()
        self.r.check("traffic still flows: ping succeeds", ok)
        _, after = self.esp_counters()
        self.r.check("the ESP packet counters rose",
                     sum(p for _, p in after) > sum(p for _, p in before), f"{before} -> {after}")

    def step_d_klips(self):
        self.r.step("d. stackmgr switch klips --yes")
        self.r.note("On KLIPS the managed side's keying daemon is a STAND-IN (e2e-klips-daemon) that speaks "
                    "sd_notify: the KLIPS module is a test stand-in that does no IPsec, so there is NO "
                    "TUNNEL on KLIPS.")
        main_before = self.main_pid()
        rc, out = self.sh("stackmgr switch klips --yes", timeout=120)
        self.r.check("stackmgr switch klips --yes exits 0", rc == 0, f"exit {rc}")
        self.r.check("pluto is stopped", not self.processes("pluto"))
        rc, out = self.sh("ip xfrm state; echo \"ip xfrm state: exit $?\"; ip xfrm policy; "
                          "echo \"ip xfrm policy: exit $?\"; cat " + GUARD)
        self.r.check("the SAD and SPD are empty: nothing listed (under KLIPS XFRM netlink is closed: the guard "
                     "blocks xfrm_user, so ip xfrm cannot even open it)",
                     "src " not in out and "dir " not in out and "install xfrm_user /bin/false" in out, out)
        mods = self.loaded_modules()
        self.sh("lsmod | grep -E '^(ipsec|af_key|esp4|ah4|xfrm_user|xfrm4_tunnel|esp6|ah6|xfrm6_tunnel|ipcomp6?) ' "
                "; cat /sys/module/ipsec/initstate /proc/net/ipsec/version")
        self.r.check("no native module is left", not (mods & set(NATIVE_MODULES)), str(mods & set(NATIVE_MODULES)))
        rc, out = self.sh("cat /sys/module/ipsec/initstate", show=False)
        self.r.check("the KLIPS stand-in (ipsec) is live", out.strip() == "live")
        daemons = self.processes("/usr/local/sbin/e2e-klips-daemon")
        self.sh("ps -o pid,ppid,args -C stackmgr,e2e-klips-daemo,pluto; journalctl -b -u stackmgr.service "
                "--no-pager | grep e2e-klips-daemon | tail -n 2")
        main = self.main_pid()
        self.r.check("the stand-in daemon runs, as stackmgr's child",
                     len(daemons) == 1 and daemons[0][1] == main, f"{daemons}, MainPID {main}")
        rc, out = self.sh("systemctl is-active stackmgr.service")
        self.r.check("the unit stays active (same supervisor)", out.strip() == "active" and main == main_before,
                     f"MainPID {main_before} -> {main}")
        rc, out = self.sh("stackmgr status")
        self.r.check("stackmgr status says klips", rc == 0 and "klips" in out)

    def step_e_native(self):
        self.r.step("e. stackmgr switch native --yes")
        t0 = now()
        rc, out = self.sh("stackmgr switch native --yes", timeout=120)
        t_done = now()
        self.r.check("stackmgr switch native --yes exits 0", rc == 0, f"exit {rc}")
        t_esp = wait_first_esp(self.pcap, t0, SWITCH_TUNNEL_BOUND)
        if t_esp is None:
            self.r.check(f"an ESP packet within {SWITCH_TUNNEL_BOUND} s of the switch command", False)
        else:
            self.r.note(f"switch native: the command took {t_done - t0:.1f} s; the first ESP packet left "
                        f"{t_esp - t0:.1f} s after the command started")
            self.r.fact(f"e2e switch-to-first-ESP: 'stackmgr switch native --yes' to the first ESP packet "
                        f"{t_esp - t0:.1f} s (the command itself {t_done - t0:.1f} s)")
            self.r.check(f"the first ESP packet within {SWITCH_TUNNEL_BOUND} s of the switch command", True)
        plutos = self.processes("pluto")
        main = self.main_pid()
        self.r.check("pluto is back, as stackmgr's child", len(plutos) == 1 and plutos[0][1] == main, str(plutos))
        rc, out, m = self.trafficstatus()
        self.r.check("the tunnel is re-established (type=ESP)", "type=ESP" in out)
        _, before = self.esp_counters()
        ok, _ = self.ping()
        self.r.check("traffic flows again: ping succeeds", ok)
        _, after = self.esp_counters()
        self.r.check("the ESP counters rise", sum(p for _, p in after) > sum(p for _, p in before),
                     f"{before} -> {after}")

    def step_watchdog(self):
        self.r.step("e2. module work under real systemd's watchdog: a slow module step, WatchdogSec=4s")
        self.r.note("A runtime drop-in lowers WatchdogSec to 4 s (stackmgr pings every 2 s) and the KLIPS stand-in "
                    "is told to stay GOING for 10 s when it is unloaded (its exit_delay_ms parameter), so one "
                    "step of the switch to native takes 10 s. The drop-in lives in /run: the reboot in f drops it.")
        rc, out = self.sh("mkdir -p /run/systemd/system/stackmgr.service.d && "
                          "printf '[Service]\\nWatchdogSec=4s\\n' >/run/systemd/system/stackmgr.service.d/e2e-watchdog.conf && "
                          "systemctl daemon-reload && systemctl restart stackmgr.service && "
                          "systemctl show -p WatchdogUSec -p ActiveState stackmgr.service", timeout=180)
        self.r.check("the unit runs with WatchdogSec=4s", "WatchdogUSec=4s" in out and "ActiveState=active" in out, out)
        rc, out = self.sh("stackmgr switch klips --yes", timeout=180)
        self.r.check("stackmgr switch klips --yes exits 0", rc == 0, f"exit {rc}")
        main = self.main_pid()
        rc, out = self.sh("systemctl show -p NRestarts --value stackmgr.service", show=False)
        restarts = out.strip()
        self.sh("echo 10000 >/sys/module/ipsec/parameters/exit_delay_ms; "
                "(stackmgr switch native --yes >/run/e2e-wd.out 2>&1; echo $? >/run/e2e-wd.rc) & "
                "echo switch started")
        # Ask once the stand-in is GOING (the daemon's stop comes first and its time varies).
        self.wait_until("cat /sys/module/ipsec/initstate", lambda rc, out: "going" in out, 8)
        rc, out = self.sh("cat /sys/module/ipsec/initstate; stackmgr status", timeout=30)
        self.r.check("stackmgr status answers during the 10 s step and names it (remove ipsec)",
                     "going" in out and "remove ipsec" in out, out)
        rc, out = self.wait_until("cat /run/e2e-wd.rc", lambda rc, out: out.strip().isdigit(), 180)
        self.sh("cat /run/e2e-wd.out")
        self.r.check("the switch to native succeeded", out.strip() == "0", out)
        rc, out = self.sh("journalctl -b -u stackmgr.service --no-pager | grep -ci 'watchdog timeout'; "
                          "systemctl show -p MainPID -p NRestarts -p ActiveState stackmgr.service")
        props = dict(line.split("=", 1) for line in out.strip().split("\n") if "=" in line)
        self.r.check("systemd saw no watchdog timeout", out.split("\n")[0].strip() == "0", out)
        self.r.check("the same supervisor still runs: no kill, no restart",
                     props.get("ActiveState") == "active" and props.get("MainPID") == main
                     and props.get("NRestarts") == restarts, f"MainPID {main} -> {props.get('MainPID')}, "
                                                             f"NRestarts {restarts} -> {props.get('NRestarts')}")
        plutos = self.processes("pluto")
        self.r.check("pluto is back, as stackmgr's child", len(plutos) == 1 and plutos[0][1] == main, str(plutos))
        rc, out, m = self.trafficstatus()
        if "type=ESP" not in out:
            rc, out = self.wait_until("ipsec trafficstatus", lambda rc, out: "type=ESP" in out, SWITCH_TUNNEL_BOUND)
        self.r.check("the tunnel is re-established (type=ESP)", "type=ESP" in out)

    def step_f_reboot(self):
        self.r.step("f. systemctl reboot, same disk")
        self.sh("cat /var/lib/stackmgr/stack")
        self.reboot()
        _, ks = self.wait_boot("boot 3 (reboot)")
        self.system_running()
        self.boot_to_tunnel["stackmgr-reboot"] = self.tunnel_after_boot("after the reboot", ks, "stackmgr.service")
        rc, out = self.sh("grep -v '^#' /var/lib/stackmgr/stack; systemctl is-active stackmgr.service; stackmgr status")
        self.r.check("the persisted choice is back: native, from the last switch",
                     out.startswith("native\nactive\n") and "stack:    native (from the last switch" in out, out)
        rc, out, m = self.trafficstatus()
        self.r.check("the tunnel is up (type=ESP)", "type=ESP" in out)
        ok, _ = self.ping()
        self.r.check("ping across the tunnel succeeds", ok)

    def step_g_kill(self):
        self.r.step("g. kill -9 of the supervisor")
        main = self.main_pid()
        plutos = self.processes("pluto")
        mods = self.loaded_modules()
        rc, out = self.sh("systemctl show -p NRestarts --value stackmgr.service", show=False)
        restarts = out.strip()
        t0 = now()
        self.sh(f"kill -9 {main}; echo killed {main}")
        new = None
        rc = None
        while now() < t0 + RESTART_BOUND:
            rc, out = self.sh("systemctl show -p MainPID -p ActiveState -p NRestarts stackmgr.service", show=False)
            props = dict(line.split("=", 1) for line in out.strip().split("\n") if "=" in line)
            if props.get("ActiveState") == "active" and props.get("MainPID") not in ("0", main):
                new = props
                break
            time.sleep(1)
        self.sh("systemctl show -p MainPID -p ActiveState -p NRestarts stackmgr.service; "
                "journalctl -b -u stackmgr.service --no-pager | grep -E 'systemd|Main process|Scheduled restart' | tail -n 6")
        self.r.check(f"systemd restarted the service within {RESTART_BOUND} s (NRestarts {restarts} -> "
                     f"{new.get('NRestarts') if new else '?'})", new is not None)
        t_esp = wait_first_esp(self.pcap, t0, RESTART_BOUND)
        self.r.check("the tunnel is back (an ESP packet after the kill)", t_esp is not None)
        if t_esp is not None:
            self.r.note(f"kill -9 to the first ESP packet on a new SA: {t_esp - t0:.1f} s (systemd's RestartSec=5s included)")
        after = self.processes("pluto")
        self.sh("ps -o pid,ppid,args -C stackmgr,pluto")
        main2 = self.main_pid()
        self.r.check("no second pluto: exactly one, the new supervisor's child",
                     len(after) == 1 and after[0][1] == main2 and after[0][0] != (plutos[0][0] if plutos else ""),
                     f"before {plutos}, after {after}, MainPID {main2}")
        mods2 = self.loaded_modules()
        self.r.check("no leaked module: the same modules are loaded", mods2 == mods,
                     f"added {sorted(mods2 - mods)}, removed {sorted(mods - mods2)}")
        rc, out, m = self.trafficstatus()
        self.r.check("the tunnel is up (type=ESP)", "type=ESP" in out)
        ok, _ = self.ping()
        self.r.check("ping across the tunnel succeeds", ok)

    def step_h_upgrade(self):
        self.r.step("h. upgrade to a higher version while stackmgr runs")
        v2 = os.path.basename(self.a.deb_v2)
        main = self.main_pid()
        mods = self.loaded_modules()
        t0 = now()
        rc, out = self.sh(
            "udevadm monitor --kernel --subsystem-match=module >/run/e2e-uevents 2>&1 & mon=$!; sleep 1\n"
            f"cd /root/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y ./{v2}; rc=$?\n"
            "sleep 1; kill $mon; exit $rc", timeout=300,
            title=f"apt-get install -y ./{v2}   (with udevadm monitor --kernel --subsystem-match=module)")
        self.r.check("apt-get install of the upgrade exits 0", rc == 0)
        self.r.check("postinst restarted the running supervisor and kept the stack (docs/packaging.md)",
                     "restarting the supervisor to run the new version; it stays on the native stack" in out
                     and "restarted on the native stack" in out, out)
        rc, out = self.sh("cat /run/e2e-uevents; dpkg-query -W stackmgr; systemctl is-active stackmgr.service")
        events = [line for line in out.split("\n") if re.search(r"(add|remove)\s+/module/", line)]
        self.r.check("no module was unloaded or loaded (no module uevent during the upgrade)", not events,
                     "\n".join(events))
        self.r.check("the new version is installed and the unit active",
                     self.a.v2_version in out and out.strip().endswith("active"), out)
        main2 = self.main_pid()
        self.r.check("a new supervisor runs (restarted by the upgrade)", main2 not in ("0", main), f"{main} -> {main2}")
        self.r.check("the same modules are loaded", self.loaded_modules() == mods)
        t_esp = wait_first_esp(self.pcap, t0, UPGRADE_TUNNEL_BOUND)
        self.r.check(f"the tunnel is back within {UPGRADE_TUNNEL_BOUND} s of the upgrade's start", t_esp is not None)
        if t_esp is not None:
            self.r.note(f"upgrade start to the first ESP packet on a new SA: {t_esp - t0:.1f} s")
        rc, out, m = self.trafficstatus()
        self.r.check("trafficstatus shows the tunnel (type=ESP)", "type=ESP" in out)
        ok, _ = self.ping()
        self.r.check("ping across the tunnel succeeds", ok)

    def step_i_purge(self):
        self.r.step("i. apt-get purge stackmgr")
        mods = self.loaded_modules()
        rc, out = self.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y stackmgr", timeout=180)
        self.r.check("apt-get purge exits 0", rc == 0)
        self.r.check("prerm says the modules stay loaded (docs/packaging.md)",
                     "removing stackmgr unloads nothing" in out, out)
        rc, out = self.sh("systemctl is-active stackmgr.service")
        self.r.check("the service is stopped (inactive)", out.strip() == "inactive", out)
        self.sh("ps -o pid,args -C stackmgr,pluto")
        self.r.check("no stackmgr and no pluto runs", not self.processes("stackmgr") and not self.processes("pluto"))
        rc, out = self.sh(f"ls -l {GUARD}")
        self.r.check("the guard file is gone", rc != 0 and "No such file" in out, out)
        rc, out = self.sh("find /etc /var/lib /run /usr -name '*stackmgr*'")
        self.r.check("no stackmgr file is left in /etc, /var/lib, /run or /usr", rc == 0 and out.strip() == "", out)
        rc, out = self.sh("dpkg-query -W -f='${db:Status-Abbrev}\\n' stackmgr 2>&1 || true")
        self.r.check("dpkg no longer knows stackmgr", "ii" not in out, out)
        mods2 = self.loaded_modules()
        self.r.check("modules are left loaded, as the docs say", mods2 == mods and set(NATIVE_CORE) <= mods2,
                     f"added {sorted(mods2 - mods)}, removed {sorted(mods - mods2)}")

    def note_peer_initiations(self):
        """The peer only responds (auto=add, and cleartext pings dropped); say how often its pluto
        began a negotiation anyway, from its log: one that crosses the managed side's can leave a
        stale IKE SA behind, which is what those two settings are there to prevent."""
        try:
            with open(os.path.join(self.rundir, "peer-pluto.log"), "rb") as f:
                log = f.read().decode(errors="replace")
        except OSError as e:
            self.r.note(f"the peer's pluto log: {e}")
            return
        # One line per negotiation begun: a new IKE SA, or a Child SA over an existing one (an
        # on-demand acquire logs "initiate on-demand" first, then one of these).
        starts = len(re.findall(r"initiating (?:IKEv2 connection|Child SA)", log))
        self.r.note(f"the peer's pluto began {starts} negotiation(s) of its own (it only responds: expected 0)")

    # --- failure reports ----------------------------------------------------------------------------
    def diagnostics(self):
        print("\n=== diagnostics (the run failed)", flush=True)
        if self.managed and self.managed.alive():
            try:
                self.sh("journalctl -b -u stackmgr.service --no-pager | tail -n 150", timeout=60)
                self.sh("journalctl -b -u ipsec.service --no-pager | tail -n 60", timeout=60)
                self.sh("journalctl -b _COMM=pluto --no-pager | tail -n 80", timeout=60,
                        title="the managed side's pluto: journalctl -b _COMM=pluto | tail -n 80")
            except Abandon as e:
                print(f"# the managed console does not answer: {e}")
        boot = self.managed.boot if self.managed else 1
        for name, path, n in (("the peer's pluto log", "peer-pluto.log", 80),
                              ("the managed guest's console", f"managed-console-{boot}.log", 60),
                              ("the peer guest's console", "peer-console.log", 30)):
            print(f"# --- {name}: last {n} lines of {os.path.join(self.rundir, path)}")
            try:
                with open(os.path.join(self.rundir, path), "rb") as f:
                    lines = f.read().decode(errors="replace").replace("\r", "").split("\n")
                print(indent("\n".join(lines[-n:])))
            except OSError as e:
                print(f"    | ({e})")

    def run(self):
        t_start = now()
        failed_hard = None
        try:
            self.start_guests()
            self.step_debian_boot()
            self.step_install()
            self.step_a_boot()
            self.step_b_views()
            self.step_c_refused()
            self.step_d_klips()
            self.step_e_native()
            self.step_watchdog()
            self.step_f_reboot()
            self.step_g_kill()
            self.step_h_upgrade()
            self.step_i_purge()
        except Abandon as e:
            failed_hard = str(e)
            self.r.check(f"the run went on to the end (abandoned: {e})", False)
        deb = self.boot_to_tunnel.get("debian")
        sm = self.boot_to_tunnel.get("stackmgr")
        if deb and sm:
            unit_txt = ""
            if deb[1] and sm[1]:
                unit_txt = (f"; from the unit's start: Debian {deb[1]:.1f} s, stackmgr {sm[1]:.1f} s, "
                            f"ratio {sm[1] / deb[1]:.2f}")
            self.r.fact(f"e2e boot-to-tunnel (kernel start to first ESP packet, same image, same peer): "
                        f"Debian ipsec.service {deb[0]:.1f} s, stackmgr.service {sm[0]:.1f} s, "
                        f"ratio stackmgr/Debian {sm[0] / deb[0]:.2f}{unit_txt}")
        self.note_peer_initiations()
        if self.r.failed:
            self.diagnostics()
        for g in (self.managed, self.peer):
            if g:
                g.kill()
        for n, desc, detail in self.r.failed:  # last, so that a log's tail names them
            print(f"# failed: {n} - {desc}" + (f" ({first_line(detail)})" if detail else ""), flush=True)
        print(f"\n# e2e: {self.r.n - len(self.r.failed)} of {self.r.n} checks passed in {now() - t_start:.0f} s"
              f"; logs in {self.rundir}", flush=True)
        if failed_hard:
            return 101
        return min(len(self.r.failed), 100)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--disk", required=True)
    p.add_argument("--debs", required=True, help="the small disk with v1/ and v2/ .debs")
    p.add_argument("--deb-v1", required=True)
    p.add_argument("--deb-v2", required=True)
    p.add_argument("--v2-version", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--accel", default="tcg")
    p.add_argument("--guest-bound", type=int, default=900, help="qemu is killed after this many seconds")
    args = p.parse_args()
    sys.exit(E2E(args).run())


if __name__ == "__main__":
    main()
