"""The worker's stages as objects: each holds its state and handles one input record at a
time; ``stream_processors.app`` wires them to faust agents, tables and timers."""
