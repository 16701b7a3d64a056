"""One module per model family, named after the idea the book teaches."""
