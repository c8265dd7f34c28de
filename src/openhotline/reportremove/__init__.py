"""Report Remove: a young person asks for their own image to be hashed and kept off platforms."""
