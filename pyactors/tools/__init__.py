"""Programs on top of the library: the demo (the main job) and the simulator."""
