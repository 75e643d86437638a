from django.urls import path

from .. import dashboard
from . import stream, tickets, views

urlpatterns = [
    path("jobs/", views.JobListCreateView.as_view(), name="job-list"),
    path("jobs/<str:job_id>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<str:job_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<str:job_id>/result", views.JobResultView.as_view(), name="job-result"),
    path("jobs/<str:job_id>/stream", stream.JobStreamView.as_view(), name="job-stream"),
    path("job-types/", views.JobTypeListView.as_view(), name="job-type-list"),
    path("stream-tickets", tickets.StreamTicketView.as_view(), name="stream-ticket"),
    path("queues/", dashboard.QueueStatsView.as_view(), name="queue-stats"),
]
