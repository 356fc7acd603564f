# parley_generate
