"""Deploy: publish a blessed model as an immutable registry version; render its KServe manifest."""
