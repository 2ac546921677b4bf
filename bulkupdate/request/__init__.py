"""Request: what each job asks the API to do, the update spec and its schema."""
