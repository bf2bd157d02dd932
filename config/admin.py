from django.contrib import admin

admin.site.site_header = "Convoy support console"
admin.site.site_title = "Convoy support"
admin.site.index_title = "Riders, rides and their connections"
