# Loops touching fewer elements run in one thread: an OpenMP team costs more than it saves there,
# and stalls at every barrier when one of its threads is not scheduled on a busy machine.
cdef enum:
    PARALLEL_MIN = 32768
