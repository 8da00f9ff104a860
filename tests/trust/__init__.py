"""The generic trust suite (issue #25): transformations of the demo snapshots derived from what
each registered check declares it reads, none of which may improve its verdict."""
