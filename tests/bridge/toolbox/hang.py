"""A command tool child that starts a grandchild, records both pids, then hangs."""

import subprocess
import sys
import time

grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(sys.argv[1], "w") as out:
    out.write(f"{__import__('os').getpid()} {grandchild.pid}\n")
time.sleep(120)
