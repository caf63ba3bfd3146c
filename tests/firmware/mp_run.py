# Runs the MicroPython-clean firmware tests under the MicroPython unix port.
# usage: MICROPYPATH=.frozen:<repo>:<repo>/tests/firmware micropython mp_run.py test_wire ...
# Prints one line per failure and closes with "N passed, N failed"; exit status 1 on failure.
import sys


def _run(name, fn, counts):
    try:
        fn()
        counts[0] += 1
    except Exception as e:  # report every failure, keep going
        counts[1] += 1
        print("FAIL", name, type(e).__name__, e)
        sys.print_exception(e)


def main(modules):
    counts = [0, 0]
    for modname in modules:
        mod = __import__(modname)
        for attr in sorted(dir(mod)):
            obj = getattr(mod, attr)
            if attr.startswith("test_") and callable(obj):
                _run(modname + "." + attr, obj, counts)
            elif attr.startswith("Test") and isinstance(obj, type):
                for meth in sorted(dir(obj)):
                    if meth.startswith("test_"):
                        inst = obj()
                        _run(modname + "." + attr + "." + meth, getattr(inst, meth), counts)
    print("%d passed, %d failed" % (counts[0], counts[1]))
    return 1 if counts[1] or not counts[0] else 0


sys.exit(main(sys.argv[1:]))
