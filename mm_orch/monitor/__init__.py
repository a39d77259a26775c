"""System information and memory readings (psutil, pynvml, torch allocator)."""
